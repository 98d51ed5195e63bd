/**
 * One client cell: one scenario against one proxyless gRPC client version, with
 * its own in-process control plane, its own in-process backends and the client
 * program in its own process, all stopped when the cell ends.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { grpcBootstrap } from '@meshcp/translators';
import { ControlPlane, type ResourceHook } from 'meshcp';
import { Cleanup } from '../support/cleanup.js';
import { fetchText } from '../support/net.js';
import { waitFor } from '../support/wait.js';
import { type Backend, startBackend } from './backend.js';
import { describeRpc, GrpcClientProcess, type RpcResult } from './program.js';
import type { ClientTarget } from './versions.js';

/** The target every client cell dials. */
export const TARGET = 'xds:///echo.shop:50051';

export interface ClientProxyView {
  nodeId: string;
  clientKind: string;
  version: string;
  profile: string;
  profileWarnings: string[];
  degraded: string[];
  types: Record<string, { short: string; status: string; lastNack: { version: string; error: string } | null }>;
}

/** One endpoint of a mesh service in a cell. */
export interface CellEndpoint {
  backend: Backend;
  zone?: string;
}

export interface CellService {
  name: string;
  endpoints: CellEndpoint[];
}

export function serviceYaml(service: CellService, extra = ''): string {
  const endpoints = service.endpoints
    .map((e) => `    - {address: 127.0.0.1, port: ${e.backend.port}, locality: {region: eu, zone: ${e.zone ?? 'eu-1a'}}}`)
    .join('\n');
  return `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: ${service.name}, namespace: shop}
spec:
  ports: [{name: grpc, port: 50051, protocol: GRPC}]
  endpoints:
${endpoints || '    []'}
${extra}`;
}

export function routeYaml(rule: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: echo-route, namespace: shop}
spec:
  parentRefs: [{kind: Service, name: echo}]
  rules:
${rule}`;
}

export class ClientCellFailure extends Error {}

export class ClientCell {
  readonly cleanup = new Cleanup();
  readonly notes: Record<string, string | number> = {};
  readonly nodeId: string;
  private planeRef?: ControlPlane;
  private clientRef?: GrpcClientProcess;
  private readonly meshFile: string;
  readonly logFile: string;
  readonly clientLogFile: string;

  constructor(
    readonly target: ClientTarget,
    readonly launcher: string,
    readonly scenario: string,
    readonly dir: string,
    readonly signal: AbortSignal,
    private readonly hook?: ResourceHook,
  ) {
    mkdirSync(join(dir, 'mesh'), { recursive: true });
    this.meshFile = join(dir, 'mesh', 'mesh.yaml');
    this.logFile = join(dir, 'cell.log');
    this.clientLogFile = join(dir, 'client.log');
    writeFileSync(this.logFile, '');
    writeFileSync(this.clientLogFile, '');
    this.nodeId = `compat-${target.label.replace(/[^A-Za-z0-9.]+/g, '_')}-${scenario}`;
  }

  log(message: string): void {
    appendFileSync(this.logFile, `${new Date().toISOString()} ${message}\n`);
  }

  note(key: string, value: string | number): void {
    this.notes[key] = value;
    this.log(`note ${key}: ${value}`);
  }

  get plane(): ControlPlane {
    if (!this.planeRef) throw new Error('control plane not started');
    return this.planeRef;
  }

  get client(): GrpcClientProcess {
    if (!this.clientRef) throw new Error('client not started');
    return this.clientRef;
  }

  backend(name: string, options: { fail?: boolean } = {}): Promise<Backend> {
    return startBackend(name, this.cleanup, options);
  }

  writeMesh(yaml: string): void {
    writeFileSync(this.meshFile, yaml);
    this.log(`mesh:\n${yaml}`);
  }

  /** Control plane on ephemeral ports, then the client dialing TARGET with a `meshcp bootstrap --grpc` bootstrap (client in eu/eu-1a). */
  async start(mesh: string): Promise<void> {
    this.writeMesh(mesh);
    const plane = new ControlPlane({ file: this.meshFile, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', debounceQuietMs: 20, debounceMaxMs: 200 });
    this.planeRef = plane;
    this.cleanup.add(() => plane.stop());
    await plane.start();
    if (this.hook) plane.cache.setResourceHook(this.hook);
    const bootstrapFile = join(this.dir, 'bootstrap.json');
    writeFileSync(
      bootstrapFile,
      JSON.stringify(
        grpcBootstrap({
          nodeId: this.nodeId,
          service: 'compat-client',
          namespace: 'shop',
          region: 'eu',
          zone: 'eu-1a',
          xdsAddress: `127.0.0.1:${plane.xdsPort}`,
        }),
        null,
        2,
      ),
    );
    this.log(`control plane: xds ${plane.xdsPort}, admin ${plane.adminPort}; client ${this.target.label} dials ${TARGET}`);
    this.clientRef = new GrpcClientProcess(this.launcher, TARGET, bootstrapFile, this.clientLogFile, this.cleanup);
  }

  async proxies(): Promise<ClientProxyView[]> {
    const body = JSON.parse(await fetchText(`http://127.0.0.1:${this.plane.adminPort}/debug/proxies`)) as { proxies: ClientProxyView[] };
    return body.proxies.filter((p) => p.nodeId === this.nodeId);
  }

  waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
    return waitFor(what, probe, timeoutMs, intervalMs, this.signal);
  }

  /**
   * RPCs until one succeeds (the client resolving LDS → RDS → CDS → EDS and
   * connecting); fails with the client's own error text when none does in time.
   */
  async firstSuccess(timeoutMs = 30_000): Promise<number> {
    const started = Date.now();
    let last: RpcResult | undefined;
    while (Date.now() - started < timeoutMs) {
      if (this.signal.aborted) throw new ClientCellFailure('aborted');
      last = await this.client.one(2000);
      if (last.ok) return Date.now() - started;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new ClientCellFailure(
      `no RPC succeeded in ${timeoutMs / 1000} s; the client's last error: ${last ? describeRpc(last) : 'none'}${await this.statusLine()}`,
    );
  }

  /** What the control plane shows for this client, for failure messages. */
  async statusLine(): Promise<string> {
    try {
      const views = await this.proxies();
      if (views.length === 0) return '\n(meshcp: the client never connected)';
      return `\n(meshcp shows: ${views
        .map(
          (v) =>
            `${Object.values(v.types)
              .map((t) => `${t.short} ${t.status}`)
              .join(', ')}${v.degraded.length > 0 ? `; degraded: ${v.degraded.join('; ')}` : ''}`,
        )
        .join(' | ')})`;
    } catch {
      return '';
    }
  }

  /** RPCs in a row, tallied by backend; failures keep the client's own text. */
  async tally(count: number, timeoutMs = 5000, payload = ''): Promise<{ byBackend: Map<string, number>; failures: RpcResult[]; results: RpcResult[] }> {
    const results = await this.client.call(count, timeoutMs, payload);
    const byBackend = new Map<string, number>();
    const failures: RpcResult[] = [];
    for (const r of results) {
      if (r.ok) byBackend.set(r.backend as string, (byBackend.get(r.backend as string) ?? 0) + 1);
      else failures.push(r);
    }
    return { byBackend, failures, results };
  }

  /**
   * Calls one RPC at a time until `streak` in a row satisfy `wanted`; returns the
   * time from the call to the first of that streak.
   */
  async until(what: string, wanted: (r: RpcResult) => boolean, timeoutMs: number, streak = 20): Promise<number> {
    const started = Date.now();
    let run = 0;
    let firstOfRun = 0;
    let last: RpcResult | undefined;
    while (Date.now() - started < timeoutMs) {
      if (this.signal.aborted) throw new ClientCellFailure('aborted');
      last = await this.client.one(2000);
      if (wanted(last)) {
        if (run === 0) firstOfRun = Date.now() - started;
        if (++run >= streak) return firstOfRun;
      } else run = 0;
    }
    throw new ClientCellFailure(`${what}: not seen in ${timeoutMs / 1000} s (${streak} RPCs in a row); last RPC: ${last ? describeRpc(last) : 'none'}`);
  }
}
