/** Wires the pipeline: source → (debounce) → snapshot cache → xDS server, plus the admin API. */
import type { ConfigError, MeshModel, MeshSettings, MeshSource, SourceResult } from '@meshcp/translators';
import { AdminServer } from './admin/http.js';
import type { AdminAccess } from './auth/admin-access.js';
import { SnapshotCache } from './cache/snapshot-cache.js';
import { logger } from './log.js';
import { Metrics, type StreamState, streamStateOf } from './metrics.js';
import { Debouncer } from './source/debounce.js';
import { FileSource } from './source/file-source.js';
import { XdsServer, type XdsServerOptions } from './xds/server.js';
import { worseState } from './xds/sync-state.js';
import { type WorkerPoolOptions, XdsWorkerPool } from './xds/workers.js';

/** Where the proxies' streams are: one XdsServer, or the worker pool's view of its workers. */
export type XdsStreams = Pick<XdsServer, 'connections' | 'viewOf' | 'certificateStatus' | 'openStreams'>;

/** Proxies of one service (the namespace/service their xDS node names), by sync state. */
export interface ServiceProxyCounts {
  synced: number;
  stale: number;
  nacked: number;
}

export interface ControlPlaneOptions {
  /** Where the mesh model comes from; `file` is shorthand for a FileSource. */
  source?: MeshSource;
  file?: string;
  xdsAddress: string;
  adminAddress: string;
  debounceQuietMs?: number;
  debounceMaxMs?: number;
  /** Transport limits and security of the xDS server (message size, streams, write deadline, TLS, authentication). */
  xds?: XdsServerOptions;
  /** Who may read the admin API (default: everything on loopback, /debug nowhere else). */
  adminAccess?: AdminAccess;
  /** Mesh-wide settings from flags (the chart's values); a MeshConfig in the source overrides each one it sets. */
  settings?: MeshSettings;
  /**
   * Serve xDS from this many worker processes sharing the port (xds/workers.ts); the
   * sources, the model, translation and the CA stay in this process. Absent or a count
   * of 1: this process serves xDS itself.
   */
  workers?: WorkerPoolOptions;
}

/** A burst is over after this long without a change (Istio's PILOT_DEBOUNCE_AFTER is 100 ms too). */
export const DEFAULT_DEBOUNCE_QUIET_MS = 100;
/** A steady stream of changes is applied at least this often (Istio's PILOT_DEBOUNCE_MAX is 10 s; see docs/architecture.md). */
export const DEFAULT_DEBOUNCE_MAX_MS = 500;

function splitHostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at).replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(address.slice(at + 1)) };
}

export class ControlPlane {
  readonly metrics = new Metrics();
  readonly cache = new SnapshotCache(this.metrics);
  /** The streams, wherever they are served (see `server` and `pool`). */
  readonly xds: XdsStreams;
  /** The xDS server when this process serves xDS itself. */
  readonly server?: XdsServer;
  /** The worker pool when workers serve xDS. */
  readonly pool?: XdsWorkerPool;
  private readonly log = logger('control-plane');
  private source?: MeshSource;
  private admin?: AdminServer;
  private errors: ConfigError[] = [];
  private synced = false;
  private pending?: MeshModel;
  private readonly debouncer: Debouncer;
  xdsPort = 0;
  adminPort = 0;

  constructor(private readonly options: ControlPlaneOptions) {
    if (options.workers && options.workers.count > 1) {
      this.pool = new XdsWorkerPool(this.cache, this.metrics, options.workers, options.xds?.ca);
      this.xds = this.pool;
      // Fleet gauges are each worker's, summed on /metrics.
    } else {
      this.server = new XdsServer(this.cache, this.metrics, options.xds);
      this.xds = this.server;
    }
    if (this.server)
      this.metrics.watchFleet({
        connections: () => this.xds.connections(),
        degradedCount: (record) => {
          const view = this.xds.viewOf(record);
          return view && this.cache.isReady() ? this.cache.degradedFor(view).length : 0;
        },
      });
    // Leading edge: a lone change is applied at once; a burst is coalesced (debounce.ts, docs/architecture.md).
    this.debouncer = new Debouncer(
      options.debounceQuietMs ?? DEFAULT_DEBOUNCE_QUIET_MS,
      options.debounceMaxMs ?? DEFAULT_DEBOUNCE_MAX_MS,
      () => this.apply(),
      true,
    );
  }

  async start(): Promise<void> {
    this.xdsPort = (await (this.server ?? this.pool)?.start(this.options.xdsAddress)) ?? 0;
    const admin = splitHostPort(this.options.adminAddress);
    this.admin = new AdminServer({
      cache: this.cache,
      xds: this.xds,
      metrics: this.metrics,
      ...(this.pool ? { refresh: () => this.pool?.refresh() ?? Promise.resolve(), metricsText: () => this.pool?.metricsText() ?? Promise.resolve('') } : {}),
      configErrors: () => this.errors,
      sourcesSynced: () => this.synced,
      ...(this.options.adminAccess ? { access: this.options.adminAccess } : {}),
    });
    this.adminPort = await this.admin.start(admin.host, admin.port);
    const source = this.options.source ?? (this.options.file ? new FileSource(this.options.file) : undefined);
    if (!source) throw new Error('a source is required (file or kubeconfig)');
    this.source = source;
    await source.start((result) => this.onSource(result));
    this.log.info('serving', {
      xds: `${this.options.xdsAddress.replace(/:\d+$/, '')}:${this.xdsPort}`,
      admin: `${admin.host}:${this.adminPort}`,
      source: source.name,
    });
  }

  private onSource(result: SourceResult): void {
    this.errors = result.errors;
    this.metrics.configErrors.set(result.errors.length);
    this.pending = result.model;
    if (!this.synced) {
      // The first load is applied at once: nothing is served before it (readyz).
      this.synced = true;
      this.apply();
      this.server?.pushAll();
    } else {
      this.debouncer.trigger();
    }
  }

  private apply(): void {
    if (!this.pending) return;
    const fromSource = this.pending;
    this.pending = undefined;
    const settings = { ...this.options.settings, ...fromSource.settings };
    const model = Object.keys(settings).length > 0 ? { ...fromSource, settings } : fromSource;
    const change = this.cache.setModel(model);
    this.log.info('model applied', {
      services: model.services.size,
      routes: model.routes.length,
      configChanged: change.config,
      clustersChanged: change.clusters.size,
    });
  }

  /**
   * Connected proxies per `namespace/service` (from their xDS node): NACKED if any
   * type's last response was NACKed, SYNCED if every type is ACKed at the version
   * sent, STALE otherwise. The Kubernetes status writer shows these on MeshServices.
   */
  async proxyCounts(): Promise<Map<string, ServiceProxyCounts>> {
    // Streams on xDS worker processes: fetched from them first (the primary holds none).
    await this.pool?.refresh();
    const byNode = new Map<string, { key: string; state: StreamState }>();
    for (const record of this.xds.connections()) {
      // A node with several streams (per-type services) counts once, at its worst state.
      const previous = byNode.get(record.nodeId);
      const state = worseState(previous?.state, streamStateOf(record));
      if (state !== previous?.state) byNode.set(record.nodeId, { key: `${record.namespace}/${record.service}`, state });
    }
    const counts = new Map<string, ServiceProxyCounts>();
    for (const { key, state } of byNode.values()) {
      const entry = counts.get(key) ?? { synced: 0, stale: 0, nacked: 0 };
      // A stream with a type not sent or not yet ACKed counts as stale.
      entry[state === 'NACKED' ? 'nacked' : state === 'SYNCED' ? 'synced' : 'stale']++;
      counts.set(key, entry);
    }
    return counts;
  }

  async stop(): Promise<void> {
    this.debouncer.cancel();
    await this.source?.stop();
    await this.admin?.stop();
    await this.server?.stop();
    await this.pool?.stop();
    this.metrics.close();
  }
}
