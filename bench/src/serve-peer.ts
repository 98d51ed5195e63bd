/**
 * meshcp as it runs in production: `meshcp serve --file mesh.yaml` (its own
 * process, the file source with its watch and debounce, the admin API, and every
 * flag `serve` has — `--workers` is passed when `meshcp serve` lists it). The load
 * generator's `POST /change` lands on a small shim in the bench process that
 * rewrites the mesh file (atomically: write, then rename) with that one endpoint
 * moved; `GET /metrics` is the admin API's. So a change here includes the file
 * watch, the re-parse of the file and the debounce (quiet 100 ms, max 1 s) — what a
 * file-fed meshcp does — which the in-process bench server (meshcp-server.ts) leaves out.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { type ChangeRequest, startControlServer } from './model.js';
import { BENCH_CACHE, MESHCP_CLI_JS, runCommand, type Server, track } from './procs.js';
import type { Workload } from './workload.js';

/** The `meshcp serve` flags its usage text lists (e.g. `--workers`). */
export async function serveFlags(): Promise<Set<string>> {
  const out = await runCommand(process.execPath, [MESHCP_CLI_JS, 'help'], 30_000);
  const usage = `${out.stdout}${out.stderr}`;
  const serveUsage = usage.slice(usage.indexOf('meshcp serve'), usage.indexOf('meshcp bootstrap'));
  return new Set(serveUsage.match(/--[a-z][a-z-]*/g) ?? []);
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

function serviceDoc(w: Workload, key: string, ports: number[]): string {
  const name = key.slice(key.indexOf('/') + 1);
  const endpoints = w.services.get(key) ?? [];
  return stringify({
    apiVersion: 'meshcp.io/v1alpha1',
    kind: 'MeshService',
    metadata: { name, namespace: w.namespace },
    spec: {
      ports: [{ name: 'http', port: w.port, protocol: 'HTTP' }],
      endpoints: endpoints.map((e, i) => ({ address: e.address, port: ports[i] ?? e.port, locality: { region: w.region, zone: e.zone } })),
      failover: { localityPriority: ['zone', 'region'], overprovisioningFactor: 140 },
    },
  });
}

export interface ServeOptions {
  workers?: number;
  /** TLS with client certificates from the mesh CA in this directory (no --insecure). */
  tlsStateDir?: string;
  nodeArgs?: string[];
}

/** Starts `meshcp serve` on the workload and the change shim; resolves once /readyz says ready. */
export async function startServe(w: Workload, flags: Set<string>, options: ServeOptions = {}): Promise<Server> {
  const dir = mkdtempSync(join(BENCH_CACHE, 'serve-'));
  const file = join(dir, 'mesh.yaml');
  const keys = [...w.services.keys()];
  const ports = new Map(keys.map((k) => [k, (w.services.get(k) ?? []).map((e) => e.port)]));
  const docs = new Map(keys.map((k) => [k, serviceDoc(w, k, ports.get(k) ?? [])]));
  const write = () => {
    // A rename is one event for the watcher and never a half-written file.
    writeFileSync(`${file}.tmp`, keys.map((k) => docs.get(k)).join('---\n'));
    renameSync(`${file}.tmp`, file);
  };
  write();
  const [xdsPort, adminPort] = [await freePort(), await freePort()];
  const args = [
    ...(options.nodeArgs ?? []),
    MESHCP_CLI_JS,
    'serve',
    '--file',
    file,
    '--xds-address',
    `127.0.0.1:${xdsPort}`,
    '--admin-address',
    `127.0.0.1:${adminPort}`,
    ...(options.tlsStateDir ? ['--state-dir', options.tlsStateDir] : ['--insecure', '--state-dir', join(dir, 'state')]),
    ...(options.workers !== undefined && flags.has('--workers') ? ['--workers', String(options.workers)] : []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  track(child);
  let err = '';
  child.stderr?.on('data', (c: Buffer) => {
    err = (err + c.toString()).slice(-100_000);
  });
  const applyChange = (change: ChangeRequest): string => {
    const key = `${change.namespace}/${change.service}`;
    const list = ports.get(key);
    if (!list || change.endpoint < 0 || change.endpoint >= list.length) throw new Error(`no endpoint ${change.endpoint} in ${key}`);
    list[change.endpoint] = change.port;
    docs.set(key, serviceDoc(w, key, list));
    write();
    return `${change.service}.${change.namespace}:${w.port}`;
  };
  // meshcp's own /metrics, relayed: the load generator reads every server's at the control port.
  const relayMetrics = (res: ServerResponse) => {
    fetch(`http://127.0.0.1:${adminPort}/metrics`)
      .then(async (r) => res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'text/plain' }).end(await r.text()))
      .catch((error: Error) => res.writeHead(502).end(error.message));
  };
  const shim = await startControlServer('127.0.0.1:0', applyChange, relayMetrics);
  const controlPort = shim.port;
  const stop = async () => {
    shim.close();
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`meshcp serve exited (${child.exitCode}) before ready: ${err.slice(-2000)}`);
    }
    const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`meshcp serve not ready in 120 s: ${err.slice(-2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { name: 'meshcp serve', child, pid: child.pid ?? 0, xdsPort, controlPort, stderr: () => err, stop };
}
