/**
 * Test and demo harness: real upstream HTTP servers, real meshcp processes, real
 * Envoy binaries. Every wait is on a fact (an admin endpoint, traffic) with a
 * deadline and a message saying what was expected and what was seen.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BootstrapOptions, envoyBootstrap, installEnvoy } from 'meshcp';
import { stringify } from 'yaml';

export const NEWEST_ENVOY = process.env.MESHCP_TEST_ENVOY ?? '1.40.0';
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MESHCP_BIN = join(REPO_ROOT, 'control-plane', 'bin', 'meshcp.js');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value as T;
      last = value;
    } catch (error) {
      last = error instanceof Error ? error.message : error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${typeof last === 'string' ? last : JSON.stringify(last)}`);
}

export class Cleanup {
  private readonly tasks: (() => Promise<void> | void)[] = [];
  add(task: () => Promise<void> | void): void {
    this.tasks.push(task);
  }
  async run(): Promise<void> {
    for (const task of this.tasks.reverse()) {
      try {
        await task();
      } catch {
        // keep cleaning
      }
    }
    this.tasks.length = 0;
  }
}

export function tempDir(prefix: string, cleanup: Cleanup): string {
  const dir = mkdtempSync(join(tmpdir(), `meshcp-${prefix}-`));
  cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An HTTP server that answers with its own name and counts what it served. */
export interface Upstream {
  name: string;
  port: number;
  requests: number;
  server: Server;
}

export async function startUpstream(name: string, cleanup: Cleanup, port = 0): Promise<Upstream> {
  const upstream: Upstream = { name, port: 0, requests: 0, server: createServer() };
  upstream.server.on('request', (req, res) => {
    upstream.requests++;
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name });
    res.end(`${name}\n`);
  });
  await new Promise<void>((resolve) => upstream.server.listen(port, '127.0.0.1', resolve));
  upstream.port = (upstream.server.address() as AddressInfo).port;
  cleanup.add(
    () =>
      new Promise<void>((resolve) => {
        upstream.server.closeAllConnections();
        upstream.server.close(() => resolve());
      }),
  );
  return upstream;
}

function stopProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** GET through a listener with an explicit Host header (fetch does not allow setting Host). */
export function httpGet(port: number, host: string, path = '/', timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host }, agent: keepAlive, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${host}${path} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
const keepAlive = new Agent({ keepAlive: true, maxSockets: 8 });

export interface RunningProcess {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

export function startProcess(command: string, args: string[], cleanup: Cleanup, env: NodeJS.ProcessEnv = process.env): RunningProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 2_000_000) output = output.slice(-1_000_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const stop = () => stopProcess(child);
  cleanup.add(stop);
  return { child, output: () => output, stop };
}

export interface MeshcpProcess extends RunningProcess {
  xdsPort: number;
  adminPort: number;
  admin: (path: string) => Promise<Response>;
}

export async function startMeshcp(file: string, cleanup: Cleanup, ports?: { xds?: number; admin?: number }): Promise<MeshcpProcess> {
  const xdsPort = ports?.xds ?? (await freePort());
  const adminPort = ports?.admin ?? (await freePort());
  const proc = startProcess(
    process.execPath,
    [MESHCP_BIN, 'serve', '--file', file, '--xds-address', `127.0.0.1:${xdsPort}`, '--admin-address', `127.0.0.1:${adminPort}`],
    cleanup,
  );
  const admin = (path: string) => fetch(`http://127.0.0.1:${adminPort}${path}`);
  await waitFor(`meshcp /readyz on ${adminPort} (output: ${proc.output().slice(-500)})`, async () => (await admin('/readyz')).ok, 20_000);
  return { ...proc, xdsPort, adminPort, admin };
}

export interface EnvoyProcess extends RunningProcess {
  adminPort: number;
  outboundPort: number;
  admin: (path: string) => Promise<string>;
  /** Sends one request through the outbound listener; returns status and body. */
  request: (host: string, path?: string) => Promise<{ status: number; body: string }>;
}

export interface EnvoyOptions extends Partial<Omit<BootstrapOptions, 'xdsAddress' | 'adminPort'>> {
  xdsPort: number;
  version?: string;
  binary?: string;
}

export async function startEnvoy(options: EnvoyOptions, cleanup: Cleanup): Promise<EnvoyProcess> {
  const binary = options.binary ?? (await installEnvoy(options.version ?? NEWEST_ENVOY));
  const adminPort = await freePort();
  const outboundPort = options.outboundPort ?? (await freePort());
  const dir = tempDir('envoy', cleanup);
  const bootstrap = envoyBootstrap({
    nodeId: options.nodeId ?? `envoy-${adminPort}`,
    service: options.service ?? 'client',
    namespace: options.namespace ?? 'shop',
    ...(options.region ? { region: options.region } : {}),
    ...(options.zone ? { zone: options.zone } : {}),
    xdsAddress: `127.0.0.1:${options.xdsPort}`,
    adminPort,
    outboundPort,
    delta: options.delta ?? false,
  });
  const path = join(dir, 'bootstrap.yaml');
  writeFileSync(path, stringify(bootstrap));
  const proc = startProcess(binary, ['-c', path, '--disable-hot-restart', '--log-level', 'warn', '--drain-time-s', '1'], cleanup);
  const admin = async (p: string) => {
    const response = await fetch(`http://127.0.0.1:${adminPort}${p}`);
    return response.text();
  };
  await waitFor(
    `Envoy admin /ready = LIVE on ${adminPort} (envoy output: ${proc.output().slice(-800)})`,
    async () => (await admin('/ready')).trim() === 'LIVE',
    30_000,
  );
  const request = (host: string, p = '/') => httpGet(outboundPort, host, p);
  return { ...proc, adminPort, outboundPort, admin, request };
}

/** Sends `count` requests and tallies the response bodies (upstream names) and statuses. */
export async function tally(envoy: EnvoyProcess, host: string, path: string, count: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const { status, body } = await envoy.request(host, path);
    const key = status === 200 ? body : `HTTP ${status}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

export interface MeshServiceSpec {
  name: string;
  namespace?: string;
  port?: number;
  endpoints: { port: number; zone?: string; region?: string; health?: string; address?: string }[];
}

/** Writes MeshService (and optional raw YAML) manifests the way a user would. */
export function meshYaml(services: MeshServiceSpec[], extra = ''): string {
  const docs = services.map((s) =>
    stringify({
      apiVersion: 'meshcp.io/v1alpha1',
      kind: 'MeshService',
      metadata: { name: s.name, namespace: s.namespace ?? 'shop' },
      spec: {
        ports: [{ name: 'http', port: s.port ?? 8080, protocol: 'HTTP' }],
        endpoints: s.endpoints.map((e) => ({
          address: e.address ?? '127.0.0.1',
          port: e.port,
          locality: { region: e.region ?? 'eu', zone: e.zone ?? 'eu-1a' },
          ...(e.health ? { health: e.health } : {}),
        })),
      },
    }),
  );
  return [...docs, ...(extra ? [extra] : [])].join('---\n');
}

/** Envoy's /clusters text as host:port lists per cluster. */
export async function envoyClusterHosts(envoy: EnvoyProcess): Promise<Map<string, string[]>> {
  const text = await envoy.admin('/clusters');
  const hosts = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const match = /^(.+?)::(\d+\.\d+\.\d+\.\d+:\d+)::health_flags::/.exec(line);
    if (!match) continue;
    const list = hosts.get(match[1] as string) ?? [];
    list.push(match[2] as string);
    hosts.set(match[1] as string, list);
  }
  return hosts;
}
