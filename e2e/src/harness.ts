/**
 * Test and demo harness: real upstream HTTP servers, real meshcp processes, real
 * Envoy binaries. Every wait is on a fact (an admin endpoint, traffic) with a
 * deadline and a message saying what was expected and what was seen.
 *
 * The runtime-independent helpers (waits, cleanup, upstreams, HTTP, ports, mesh
 * YAML) live in compat-matrix/src/support and are re-exported here: one copy.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Cleanup, freePort, httpGet, parseClusterHosts, type RunningProcess, startProcess, tempDir, waitFor } from '@meshcp/compat-matrix';
import { type BootstrapOptions, envoyBootstrap, type XdsClientSecurity } from '@meshcp/translators';
import { NEWEST_ENVOY_RELEASE } from '@meshcp/xds-protos';
import { installEnvoy } from 'meshcp';
import { stringify } from 'yaml';

export {
  Cleanup,
  freePort,
  httpGet,
  type MeshServiceSpec,
  meshYaml,
  mtlsServiceYaml,
  parseClusterHosts,
  type RunningProcess,
  startProcess,
  startUpstream,
  tempDir,
  type Upstream,
  waitFor,
} from '@meshcp/compat-matrix';

export const NEWEST_ENVOY = process.env.MESHCP_TEST_ENVOY ?? NEWEST_ENVOY_RELEASE;
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MESHCP_BIN = join(REPO_ROOT, 'control-plane', 'bin', 'meshcp.js');

export interface MeshcpProcess extends RunningProcess {
  xdsPort: number;
  adminPort: number;
  admin: (path: string) => Promise<Response>;
}

/**
 * `meshcp serve --file` on loopback. Plaintext (`--insecure`) unless `security`
 * gives the flags of a secured server (the security tests do).
 */
export async function startMeshcp(
  file: string,
  cleanup: Cleanup,
  ports?: { xds?: number; admin?: number },
  security: string[] = ['--insecure'],
): Promise<MeshcpProcess> {
  const xdsPort = ports?.xds ?? (await freePort());
  const adminPort = ports?.admin ?? (await freePort());
  const proc = startProcess(
    process.execPath,
    [MESHCP_BIN, 'serve', '--file', file, '--xds-address', `127.0.0.1:${xdsPort}`, '--admin-address', `127.0.0.1:${adminPort}`, ...security],
    cleanup,
  );
  const admin = (path: string) => fetch(`http://127.0.0.1:${adminPort}${path}`);
  await waitFor(`meshcp /readyz on ${adminPort} (output: ${proc.output().slice(-500)})`, async () => (await admin('/readyz')).ok, 20_000);
  return { ...proc, xdsPort, adminPort, admin };
}

/** A meshcp serving TLS with its own mesh CA (secure, the default), and a way to issue proxies their SVIDs from it. */
export interface SecureMeshcp extends MeshcpProcess {
  stateDir: string;
  /** `meshcp identity issue` for one workload; returns what `bootstrap` needs to connect as it. */
  identity(namespace: string, serviceAccount: string): Promise<XdsClientSecurity>;
}

export async function startSecureMeshcp(file: string, cleanup: Cleanup, extraArgs: string[] = []): Promise<SecureMeshcp> {
  const stateDir = tempDir('meshcp-state', cleanup);
  const meshcp = await startMeshcp(file, cleanup, undefined, ['--state-dir', stateDir, ...extraArgs]);
  const identity = async (namespace: string, serviceAccount: string): Promise<XdsClientSecurity> => {
    const out = tempDir(`svid-${namespace}-${serviceAccount}`, cleanup);
    await promisify(execFile)(process.execPath, [
      MESHCP_BIN,
      'identity',
      'issue',
      '--namespace',
      namespace,
      '--service-account',
      serviceAccount,
      '--state-dir',
      stateDir,
      '--out',
      out,
    ]);
    return { caFile: join(out, 'ca.pem'), certFile: join(out, 'cert.pem'), keyFile: join(out, 'key.pem') };
  };
  return { ...meshcp, stateDir, identity };
}

/** A plain HTTP app on loopback (what a sidecar fronts): answers `body`, keeps the headers it saw. */
export async function startApp(body: string, cleanup: Cleanup): Promise<{ port: number; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const app = createServer((req, res) => {
    seen.push(req.headers);
    res.end(`${body}\n`);
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  cleanup.add(() => new Promise<void>((resolve) => app.close(() => resolve())));
  return { port: (app.address() as AddressInfo).port, seen };
}

/** A service's own sidecar (shop namespace): its inbound listener in front of the app, with the service's SVID. */
export async function startServiceSidecar(
  meshcp: SecureMeshcp,
  options: { service: string; serviceAccount: string; inboundPort: number; appPort: number; version?: string; svidTtlHours?: number },
  cleanup: Cleanup,
): Promise<EnvoyProcess> {
  return startEnvoy(
    {
      xdsPort: meshcp.xdsPort,
      ...(options.version ? { version: options.version } : {}),
      nodeId: `${options.service}-sidecar`,
      service: options.service,
      namespace: 'shop',
      serviceAccount: options.serviceAccount,
      inboundPort: options.inboundPort,
      appPort: options.appPort,
      security: await meshcp.identity('shop', options.serviceAccount),
    },
    cleanup,
  );
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
  /** Wait for Envoy's /ready to say LIVE (false for a proxy that is expected to get nothing). */
  waitLive?: boolean;
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
    ...(options.inboundPort ? { inboundPort: options.inboundPort } : {}),
    ...(options.appPort ? { appPort: options.appPort } : {}),
    ...(options.tcpPortOffset !== undefined ? { tcpPortOffset: options.tcpPortOffset } : {}),
    ...(options.serviceAccount ? { serviceAccount: options.serviceAccount } : {}),
    ...(options.security ? { security: options.security } : {}),
    delta: options.delta ?? false,
  });
  const path = join(dir, 'bootstrap.yaml');
  writeFileSync(path, stringify(bootstrap));
  const proc = startProcess(binary, ['-c', path, '--disable-hot-restart', '--log-level', 'warn', '--drain-time-s', '1'], cleanup);
  const admin = async (p: string) => {
    const response = await fetch(`http://127.0.0.1:${adminPort}${p}`);
    return response.text();
  };
  if (options.waitLive ?? true) {
    await waitFor(
      `Envoy admin /ready = LIVE on ${adminPort} (envoy output: ${proc.output().slice(-800)})`,
      async () => (await admin('/ready')).trim() === 'LIVE',
      30_000,
    );
  } else {
    await waitFor(
      `Envoy admin on ${adminPort} (envoy output: ${proc.output().slice(-800)})`,
      async () => (await admin('/ready').catch(() => '')) !== '',
      30_000,
    );
  }
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

/** Envoy's /clusters text as host:port lists per cluster. */
export async function envoyClusterHosts(envoy: EnvoyProcess): Promise<Map<string, string[]>> {
  return parseClusterHosts(await envoy.admin('/clusters'));
}
