/**
 * One cell of the matrix: one scenario against one Envoy target, with its own
 * control plane (in-process, ephemeral ports), its own Envoy (container or
 * process) and its own upstreams, all torn down when the cell ends — however it ends.
 */
import { appendFileSync, chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { envoyBootstrap, type XdsClientSecurity } from '@meshcp/translators';
import { ControlPlane, type ResourceHook, serveSecurity } from 'meshcp';
import { stringify } from 'yaml';
import { tail } from './exec.js';
import type { EnvoyInstance, EnvoyRuntime, Provisioned } from './runtime/types.js';
import { ENVOY_ARGS } from './runtime/types.js';
import {
  type CellContext,
  CellFailure,
  type CellPhase,
  type EnvoyHandle,
  type ProxyView,
  type ResourceVersions,
  type SidecarOptions,
  type StartOptions,
  type Traffic,
  type TrafficResult,
  type TypeView,
  XDS_TYPES,
} from './scenario.js';
import { Cleanup } from './support/cleanup.js';
import { parseClusterHosts } from './support/mesh.js';
import { fetchText, freePort, httpGet } from './support/net.js';
import { startUpstream, type Upstream } from './support/upstream.js';
import { pause, StopWaiting, waitFor } from './support/wait.js';

/** A fault planted in one cell, to prove the matrix can fail (tests only). */
export interface CellFault {
  /** Shown in the cell's log and notes. */
  note: string;
  /** Installed on the cell's control plane (and on a restarted one). */
  resourceHook?: ResourceHook;
  /** Points Envoy's bootstrap somewhere else (e.g. a closed port: an Envoy that never connects). */
  xdsAddress?: string;
  /** Extra Envoy arguments (e.g. an unknown flag: a container that will not start). */
  extraArgs?: string[];
  /**
   * How the cell's Envoy (not a sidecar) reaches the secured control plane instead of
   * TLS with its own SVID: in plaintext, over TLS without a client certificate, or with an
   * SVID of another namespace than the one its node claims. Each must be refused.
   */
  xdsCredentials?: 'plaintext' | 'no-client-certificate' | 'other-namespace';
}

/** Cleanup that, once the cell is over, runs late registrations at once (a timed-out scenario may still be starting things). */
class CellCleanup extends Cleanup {
  closed = false;
  override add(task: () => Promise<void> | void): void {
    if (!this.closed) {
      super.add(task);
      return;
    }
    Promise.resolve()
      .then(task)
      .catch(() => undefined);
  }
}

export interface CellSetup {
  targetLabel: string;
  /** The version Envoy must report (/server_info), e.g. 1.41.0-dev. */
  expectedVersion: string | undefined;
  /** The X.Y.Z the capability table is read with (1.41.0 for 1.41.0-dev). */
  tableVersion?: string | undefined;
  provisioned: Provisioned;
  runtime: EnvoyRuntime;
  scenarioId: string;
  dir: string;
  runId: string;
  connectTimeoutMs: number;
  signal: AbortSignal;
  fault?: CellFault;
}

export const RUN_LABEL = 'meshcp.compat.run';

/** Where a container sees the mounted bootstrap directory (see runtime/container.ts). */
const CONTAINER_CONFIG_DIR = '/etc/envoy';
/** Lifetime of the SVIDs in the bootstraps (the xDS client certificates): the cell's whole life, even when workload SVIDs are short. */
const BOOTSTRAP_SVID_TTL_MS = 24 * 3600_000;
/** The cell's own Envoy: a client workload of namespace shop. */
const CLIENT = { service: 'compat-client', namespace: 'shop', serviceAccount: 'compat-client' } as const;

type Security = Awaited<ReturnType<typeof serveSecurity>>;

export class Cell implements CellContext {
  readonly cleanup = new CellCleanup();
  readonly notes: Record<string, string | number> = {};
  readonly nodeId: string;
  readonly dir: string;
  readonly signal: AbortSignal;
  phase: CellPhase = 'scenario';
  version: string | undefined;
  private planeRef?: ControlPlane;
  private envoyRef?: EnvoyHandle;
  private instance?: EnvoyInstance;
  /** TLS, authenticator and mesh CA of the cell's control plane; kept across restartPlane (same CA, same serving certificate). */
  private security?: Security;
  /** Extra Envoys a scenario started (sidecar()), for their logs. */
  private readonly sidecars: { name: string; instance: EnvoyInstance }[] = [];
  private readonly meshFile: string;
  private xdsPort = 0;
  private readonly logFile: string;
  readonly envoyLogFile: string;

  constructor(private readonly setup: CellSetup) {
    this.dir = setup.dir;
    this.signal = setup.signal;
    this.version = setup.tableVersion ?? setup.expectedVersion;
    mkdirSync(this.dir, { recursive: true });
    this.logFile = join(this.dir, 'cell.log');
    this.envoyLogFile = join(this.dir, 'envoy.log');
    this.meshFile = join(this.dir, 'mesh', 'mesh.yaml');
    mkdirSync(join(this.dir, 'mesh'), { recursive: true });
    this.nodeId = `compat-${setup.targetLabel.replace(/[^A-Za-z0-9.]+/g, '_')}-${setup.scenarioId}`;
    writeFileSync(this.logFile, '');
    this.log(`cell ${setup.scenarioId} × ${setup.targetLabel} (${setup.provisioned.detail}), runtime ${setup.runtime.name}`);
    if (setup.fault) {
      this.log(`planted fault: ${setup.fault.note}`);
      this.notes.fault = setup.fault.note;
    }
  }

  get targetLabel(): string {
    return this.setup.targetLabel;
  }

  log(message: string): void {
    appendFileSync(this.logFile, `${new Date().toISOString()} ${message}\n`);
  }

  note(key: string, value: string | number): void {
    this.notes[key] = value;
    this.log(`note ${key}: ${value}`);
  }

  get plane(): ControlPlane {
    if (!this.planeRef) throw new Error('the control plane is not running (call start() first)');
    return this.planeRef;
  }

  get envoy(): EnvoyHandle {
    if (!this.envoyRef) throw new Error('Envoy is not running (call start() first)');
    return this.envoyRef;
  }

  waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
    return waitFor(what, probe, timeoutMs, intervalMs, this.signal);
  }

  upstream(name: string): Promise<Upstream> {
    return startUpstream(name, this.cleanup);
  }

  writeMesh(yaml: string): void {
    writeFileSync(this.meshFile, yaml);
  }

  private async startPlane(port: number): Promise<void> {
    const plane = new ControlPlane({
      file: this.meshFile,
      xdsAddress: `127.0.0.1:${port}`,
      adminAddress: '127.0.0.1:0',
      debounceQuietMs: 20,
      debounceMaxMs: 200,
      xds: { credentials: this.security?.credentials, authenticator: this.security?.authenticator, ca: this.security?.ca },
    });
    this.planeRef = plane;
    try {
      await plane.start();
    } catch (error) {
      await plane.stop().catch(() => undefined);
      throw new CellFailure(`control plane did not start on 127.0.0.1:${port}: ${(error as Error).message}`, 'control-plane');
    }
    if (this.setup.fault?.resourceHook) plane.cache.setResourceHook(this.setup.fault.resourceHook);
    this.xdsPort = plane.xdsPort;
    this.log(`control plane up: xds 127.0.0.1:${plane.xdsPort}, admin 127.0.0.1:${plane.adminPort}`);
  }

  async start(options: StartOptions): Promise<void> {
    this.phase = 'control-plane';
    this.writeMesh(options.mesh);
    // Secured as `meshcp serve` is by default: TLS from the cell's own mesh CA, every stream
    // authenticated by its client certificate, workload SVIDs over SDS.
    try {
      this.security = await serveSecurity({
        insecure: false,
        xdsHost: '127.0.0.1',
        stateDir: join(this.dir, 'ca'),
        ...(options.svidTtlMs ? { svidTtlMs: options.svidTtlMs } : {}),
      });
    } catch (error) {
      throw new CellFailure(`the mesh CA could not be opened: ${(error as Error).message}`, 'control-plane');
    }
    const security = this.security;
    this.cleanup.add(() => security.stop());
    await this.startPlane(0);
    this.cleanup.add(() => this.planeRef?.stop());

    this.phase = 'envoy-start';
    const xdsAddress = this.setup.fault?.xdsAddress ?? `127.0.0.1:${this.xdsPort}`;
    const { instance, handle, reported, admin } = await this.launchEnvoy({
      nodeId: this.nodeId,
      ...CLIENT,
      xdsAddress,
      delta: options.delta ?? false,
      region: options.region ?? 'eu',
      zone: options.zone ?? 'eu-1a',
      extraArgs: this.setup.fault?.extraArgs ?? [],
      logFile: this.envoyLogFile,
      configDir: join(this.dir, 'bootstrap'),
      ...(this.setup.fault?.xdsCredentials ? { xdsCredentials: this.setup.fault.xdsCredentials } : {}),
    });
    this.instance = instance;
    const { runtime } = this.setup;
    if (this.setup.expectedVersion && reported.version !== this.setup.expectedVersion) {
      throw new CellFailure(
        `the ${runtime.name} target runs Envoy ${reported.version ?? reported.full}, expected ${this.setup.expectedVersion}`,
        'envoy-start',
      );
    }
    this.version = this.setup.tableVersion ?? this.setup.expectedVersion ?? reported.version;
    this.envoyRef = handle;
    let lastExitCheck = 0;
    this.phase = 'connect';
    await this.waitFor(
      `Envoy to connect to the control plane at ${xdsAddress}`,
      async () => {
        const proxy = await this.proxy();
        if (proxy) return proxy;
        if (Date.now() - lastExitCheck > 1000) {
          lastExitCheck = Date.now();
          const gone = await instance.exited();
          if (gone) throw new StopWaiting(`Envoy ${gone} before connecting; its log ends with:\n${tail(await instance.logs(), 6)}`);
        }
        return undefined;
      },
      this.setup.connectTimeoutMs,
      100,
    ).catch(async (error: Error) => {
      const connected = await this.envoyRef?.stat('control_plane.connected_state').catch(() => undefined);
      const logs = tail(await instance.logs(), 4);
      throw new CellFailure(
        `Envoy never connected to the control plane (node ${this.nodeId} absent from /debug/proxies; Envoy control_plane.connected_state=${connected ?? '?'}): ${error.message}\nEnvoy log ends with:\n${logs}`,
        'connect',
      );
    });
    this.log(`Envoy connected over TLS, authenticated as ${(await this.proxy())?.identity ?? '(no identity)'}`);

    this.phase = 'sync';
    const types = await this.waitSynced('every type ACKed after bootstrap', 30_000);
    await this.waitFor('Envoy /ready = LIVE', async () => (await admin('/ready')).trim() === 'LIVE', 20_000);
    this.log(`synced: ${XDS_TYPES.map((t) => `${t}=${types[t]?.ackedVersion}`).join(' ')}`);
    this.phase = 'scenario';
  }

  /**
   * Issues a workload SVID from the cell's CA and writes it (with the trust bundle) into
   * `configDir`, the directory mounted into the container; returns the paths as Envoy sees them.
   */
  private async writeIdentity(configDir: string, namespace: string, serviceAccount: string): Promise<XdsClientSecurity> {
    const ca = this.security?.ca;
    if (!ca) throw new CellFailure('the mesh CA is not open (call start() first)', 'control-plane');
    const svid = await ca.issue({ trustDomain: ca.trustDomain, namespace, serviceAccount }, BOOTSTRAP_SVID_TTL_MS);
    // World-readable on purpose: Envoy runs as uid 101 in the images (a rootless podman maps it to a
    // subordinate uid), and this is a throwaway identity of a throwaway CA in the cell's own directory.
    writeFileSync(join(configDir, 'ca.pem'), ca.trustBundle().join('\n'), { mode: 0o644 });
    writeFileSync(join(configDir, 'cert.pem'), svid.certificateChainPem, { mode: 0o644 });
    writeFileSync(join(configDir, 'key.pem'), svid.privateKeyPem, { mode: 0o644 });
    for (const file of ['ca.pem', 'cert.pem', 'key.pem']) chmodSync(join(configDir, file), 0o644);
    const seen = this.setup.runtime.name === 'process' ? configDir : CONTAINER_CONFIG_DIR;
    return { caFile: `${seen}/ca.pem`, certFile: `${seen}/cert.pem`, keyFile: `${seen}/key.pem` };
  }

  /** Writes a bootstrap (with its identity) and starts one Envoy of the cell's runtime; waits for its admin. */
  private async launchEnvoy(spec: {
    nodeId: string;
    service: string;
    namespace: string;
    serviceAccount: string;
    xdsAddress: string;
    delta: boolean;
    region: string;
    zone: string;
    inboundPort?: number;
    appPort?: number;
    extraArgs: string[];
    logFile: string;
    configDir: string;
    xdsCredentials?: CellFault['xdsCredentials'];
  }): Promise<{ instance: EnvoyInstance; handle: EnvoyHandle; reported: { version?: string; full: string }; admin: (path: string) => Promise<string> }> {
    const adminPort = await freePort();
    const outboundPort = await freePort();
    const { configDir } = spec;
    mkdirSync(configDir, { recursive: true });
    chmodSync(configDir, 0o755);
    const issued = await this.writeIdentity(configDir, spec.xdsCredentials === 'other-namespace' ? 'other' : spec.namespace, spec.serviceAccount);
    const security = spec.xdsCredentials === 'plaintext' ? undefined : spec.xdsCredentials === 'no-client-certificate' ? { caFile: issued.caFile } : issued;
    const bootstrap = envoyBootstrap({
      nodeId: spec.nodeId,
      service: spec.service,
      namespace: spec.namespace,
      serviceAccount: spec.serviceAccount,
      region: spec.region,
      zone: spec.zone,
      xdsAddress: spec.xdsAddress,
      adminPort,
      outboundPort,
      ...(spec.inboundPort ? { inboundPort: spec.inboundPort } : {}),
      ...(spec.appPort ? { appPort: spec.appPort } : {}),
      ...(security ? { security } : {}),
      delta: spec.delta,
    });
    writeFileSync(join(configDir, 'envoy.yaml'), stringify(bootstrap));
    chmodSync(join(configDir, 'envoy.yaml'), 0o644);
    const { runtime, provisioned } = this.setup;
    const name = `meshcp-compat-${this.setup.runId}-${spec.nodeId}`.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 120);
    this.log(
      `starting Envoy (${runtime.name}) as ${name}: admin ${adminPort}, outbound ${outboundPort}${spec.inboundPort ? `, inbound ${spec.inboundPort} → app ${spec.appPort}` : ''}, xDS ${spec.xdsAddress} (TLS, SVID ns/${spec.namespace}/sa/${spec.serviceAccount}), ${spec.delta ? 'delta' : 'sotw'}`,
    );
    let instance: EnvoyInstance;
    try {
      instance = await runtime.start(provisioned, {
        name,
        configDir,
        args: [...ENVOY_ARGS, ...spec.extraArgs],
        logFile: spec.logFile,
        labels: { [RUN_LABEL]: this.setup.runId, 'meshcp.compat.cell': this.nodeId },
      });
    } catch (error) {
      throw new CellFailure(`Envoy could not be started: ${(error as Error).message}`, 'envoy-start');
    }
    this.cleanup.add(() => instance.stop());

    const admin = (path: string) => fetchText(`http://127.0.0.1:${adminPort}${path}`);
    let lastExitCheck = 0;
    const serverInfo = await this.waitFor(
      `Envoy admin on 127.0.0.1:${adminPort}`,
      async () => {
        try {
          return JSON.parse(await admin('/server_info')) as { version?: string; state?: string };
        } catch (error) {
          if (Date.now() - lastExitCheck > 1000) {
            lastExitCheck = Date.now();
            const gone = await instance.exited();
            if (gone) throw new StopWaiting(`Envoy ${gone} before its admin answered; its log ends with:\n${tail(await instance.logs(), 6)}`);
          }
          throw error;
        }
      },
      30_000,
    ).catch((error: Error) => {
      throw new CellFailure(error.message, 'envoy-start');
    });
    const version = /\/(\d+\.\d+\.\d+(?:-[A-Za-z0-9.]+)?)\//.exec(serverInfo.version ?? '')?.[1];
    this.log(`Envoy ${spec.nodeId} admin answers: ${serverInfo.version} (state ${serverInfo.state})`);
    const handle: EnvoyHandle = {
      adminPort,
      outboundPort,
      version: version ?? 'unknown',
      admin,
      request: (host, path = '/') => httpGet(outboundPort, host, path),
      clusterHosts: async () => parseClusterHosts(await admin('/clusters')),
      stat: async (stat) => {
        const text = await admin(`/stats?filter=${encodeURIComponent(`^${stat.replace(/\./g, '\\.')}$`)}`);
        const value = new RegExp(`^${stat.replace(/\./g, '\\.')}: (\\d+)`, 'm').exec(text)?.[1];
        return value === undefined ? undefined : Number(value);
      },
      resourceVersions: async () => envoyResourceVersions(JSON.parse(await admin('/config_dump?include_eds'))),
    };
    return { instance, handle, reported: { ...(version ? { version } : {}), full: serverInfo.version ?? '' }, admin };
  }

  async sidecar(options: SidecarOptions): Promise<EnvoyHandle> {
    const nodeId = `${this.nodeId}-${options.name}`;
    const { instance, handle, admin } = await this.launchEnvoy({
      nodeId,
      service: options.service ?? options.name,
      namespace: 'shop',
      serviceAccount: options.serviceAccount,
      xdsAddress: `127.0.0.1:${this.xdsPort}`,
      delta: false,
      region: 'eu',
      zone: 'eu-1a',
      ...(options.inboundPort ? { inboundPort: options.inboundPort } : {}),
      ...(options.appPort ? { appPort: options.appPort } : {}),
      extraArgs: [],
      logFile: join(this.dir, `envoy-${options.name}.log`),
      configDir: join(this.dir, `bootstrap-${options.name}`),
    });
    this.sidecars.push({ name: options.name, instance });
    await this.waitFor(
      `sidecar ${options.name}: Envoy /ready = LIVE`,
      async () => {
        const gone = await instance.exited();
        if (gone) throw new StopWaiting(`sidecar ${options.name} ${gone}; its log ends with:\n${tail(await instance.logs(), 6)}`);
        return (await admin('/ready')).trim() === 'LIVE';
      },
      30_000,
      250,
    );
    this.log(`sidecar ${options.name} (ns/shop/sa/${options.serviceAccount}) live`);
    return handle;
  }

  async restartPlane(): Promise<void> {
    const old = this.planeRef;
    const port = this.xdsPort;
    this.log(`stopping the control plane (xds ${port})`);
    this.planeRef = undefined;
    await old?.stop();
    this.log('control plane stopped; starting a new one on the same port');
    await this.startPlane(port);
  }

  async proxy(): Promise<ProxyView | undefined> {
    const plane = this.planeRef;
    if (!plane) return undefined;
    const { proxies } = JSON.parse(await fetchText(`http://127.0.0.1:${plane.adminPort}/debug/proxies`)) as { proxies: ProxyView[] };
    // After a reconnect an old stream may linger for a moment: the newest stream wins.
    return proxies.filter((p) => p.nodeId === this.nodeId).sort((a, b) => b.streamId - a.streamId)[0];
  }

  async servedVersions(): Promise<ResourceVersions> {
    const { resources } = JSON.parse(
      await fetchText(`http://127.0.0.1:${this.plane.adminPort}/debug/config_dump?proxy=${encodeURIComponent(this.nodeId)}`),
    ) as {
      resources: Record<string, { name: string; version: string }[]>;
    };
    return Object.fromEntries(Object.entries(resources).map(([short, list]) => [short, Object.fromEntries(list.map((r) => [r.name, r.version]))]));
  }

  async types(): Promise<Record<string, TypeView>> {
    const proxy = await this.proxy();
    return Object.fromEntries(Object.values(proxy?.types ?? {}).map((t) => [t.short, t]));
  }

  waitSynced(what = 'every type SYNCED', timeoutMs = 20_000, expectedNack?: string): Promise<Record<string, TypeView>> {
    return this.waitFor(
      what,
      async () => {
        const types = await this.types();
        for (const short of XDS_TYPES) {
          const t = types[short];
          if (t?.status === 'NACKED' && (expectedNack === undefined || t.lastNack?.version !== expectedNack))
            throw new StopWaiting(`${short} NACKED by Envoy ${this.version ?? ''}: ${t.lastNack?.error ?? '(no text)'}`);
        }
        if (XDS_TYPES.every((short) => types[short]?.status === 'SYNCED')) return types;
        // Not there yet: say what is seen, for the timeout message.
        throw new Error(`proxy ${Object.keys(types).length === 0 ? 'not connected' : XDS_TYPES.map((t) => `${t} ${types[t]?.status ?? 'absent'}`).join(', ')}`);
      },
      timeoutMs,
    ).then((value) => value as Record<string, TypeView>);
  }

  traffic(host: string, path = '/'): Traffic {
    const result: TrafficResult = { sent: 0, ok: 0, failed: 0, failures: {}, bodies: {} };
    let running = true;
    const loop = (async () => {
      while (running && !this.signal.aborted) {
        result.sent++;
        try {
          const { status, body } = await this.envoy.request(host, path);
          if (status === 200) {
            result.ok++;
            result.bodies[body] = (result.bodies[body] ?? 0) + 1;
          } else {
            result.failed++;
            const key = `HTTP ${status}: ${body.slice(0, 80)}`;
            result.failures[key] = (result.failures[key] ?? 0) + 1;
          }
        } catch (error) {
          result.failed++;
          const key = (error as Error).message;
          result.failures[key] = (result.failures[key] ?? 0) + 1;
        }
        // Pacing, not waiting: ~100 requests/s keeps two cores for Envoy and the control plane.
        await pause(10).catch(() => undefined);
      }
    })();
    return {
      progress: () => structuredClone(result),
      stop: async () => {
        running = false;
        await loop;
        this.log(`traffic ${host}${path}: ${JSON.stringify(result)}`);
        return result;
      },
    };
  }

  async tally(host: string, path: string, count: number): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (let i = 0; i < count; i++) {
      const { status, body } = await this.envoy.request(host, path);
      const key = status === 200 ? body : `HTTP ${status}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  }

  /** Saves what a reader of a failure needs: Envoy's log, the control plane's view, Envoy's config. */
  async collect(failed: boolean): Promise<{ envoyErrors: string[]; files: Record<string, string> }> {
    const files: Record<string, string> = { cell: 'cell.log' };
    const envoyErrors: string[] = [];
    const guard = async (what: string, fn: () => Promise<void>) => {
      try {
        await Promise.race([fn(), pause(5000).then(() => Promise.reject(new Error('timed out')))]);
      } catch (error) {
        this.log(`could not collect ${what}: ${(error as Error).message}`);
      }
    };
    if (this.instance) {
      const instance = this.instance;
      await guard('Envoy log', async () => {
        const logs = await instance.logs();
        if (this.setup.runtime.name !== 'process') writeFileSync(this.envoyLogFile, logs);
        files.envoy = 'envoy.log';
      });
    }
    for (const { name, instance } of this.sidecars) {
      await guard(`sidecar ${name} log`, async () => {
        const logs = await instance.logs();
        if (this.setup.runtime.name !== 'process') writeFileSync(join(this.dir, `envoy-${name}.log`), logs);
        files[`envoy-${name}`] = `envoy-${name}.log`;
      });
    }
    if (this.planeRef) {
      await guard('/debug/proxies', async () => {
        const text = await fetchText(`http://127.0.0.1:${this.plane.adminPort}/debug/proxies`);
        writeFileSync(join(this.dir, 'proxies.json'), text);
        files.proxies = 'proxies.json';
        const proxy = await this.proxy();
        for (const t of Object.values(proxy?.types ?? {})) if (t.lastNack?.error) envoyErrors.push(`${t.short}: ${t.lastNack.error}`);
      });
    }
    if (failed && this.envoyRef) {
      const envoy = this.envoyRef;
      await guard('Envoy /config_dump', async () => {
        writeFileSync(join(this.dir, 'config_dump.json'), await envoy.admin('/config_dump'));
        files.configDump = 'config_dump.json';
      });
    }
    return { envoyErrors, files };
  }

  async close(): Promise<string[]> {
    this.cleanup.closed = true;
    await this.cleanup.run();
    for (const error of this.cleanup.errors) this.log(`cleanup error: ${error}`);
    this.log('cleaned up');
    return this.cleanup.errors;
  }
}

interface ConfigDump {
  configs?: {
    '@type'?: string;
    dynamic_active_clusters?: { version_info?: string; cluster?: { name?: string } }[];
    dynamic_listeners?: { name?: string; active_state?: { version_info?: string } }[];
    dynamic_route_configs?: { version_info?: string; route_config?: { name?: string } }[];
    dynamic_endpoint_configs?: { version_info?: string; endpoint_config?: { cluster_name?: string } }[];
  }[];
}

/** Envoy's /config_dump?include_eds as type → name → version_info (dynamic resources only). */
export function envoyResourceVersions(dump: ConfigDump): ResourceVersions {
  const out: ResourceVersions = { CDS: {}, EDS: {}, LDS: {}, RDS: {} };
  for (const c of dump.configs ?? []) {
    for (const x of c.dynamic_active_clusters ?? []) if (x.cluster?.name) (out.CDS as Record<string, string>)[x.cluster.name] = x.version_info ?? '';
    for (const x of c.dynamic_endpoint_configs ?? [])
      if (x.endpoint_config?.cluster_name) (out.EDS as Record<string, string>)[x.endpoint_config.cluster_name] = x.version_info ?? '';
    for (const x of c.dynamic_listeners ?? []) if (x.name && x.active_state) (out.LDS as Record<string, string>)[x.name] = x.active_state.version_info ?? '';
    for (const x of c.dynamic_route_configs ?? []) if (x.route_config?.name) (out.RDS as Record<string, string>)[x.route_config.name] = x.version_info ?? '';
  }
  return out;
}
