/**
 * `meshcp serve --workers N`: xDS served from every core by node:cluster worker
 * processes sharing the xDS port (docs/architecture.md, "Serving from every core").
 *
 * The primary (XdsWorkerPool) owns the model, the snapshot cache and the CA: every
 * variant is translated and encoded once, there, and mirrored to the workers that
 * read it (cache/mirror.ts); workload SVIDs are issued there once per identity. Each
 * worker (runXdsWorker) is an ordinary XdsServer — TLS, stream authentication, limits,
 * admission — reading a MirrorCache. The primary's admin API asks the workers for
 * their streams and metrics and shows the sum.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { ProxyInfo } from '@meshcp/translators';
import {
  CLUSTER,
  decodeDeltaDiscoveryRequest,
  decodeDiscoveryRequest,
  encodeDeltaDiscoveryRequest,
  encodeDiscoveryRequest,
  type TypeUrl,
} from '@meshcp/xds-protos';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { MirrorCache, type MirrorRequest, type MirrorUpdate, VariantFeed } from '../cache/mirror.js';
import { type ProxyView, type SnapshotCache, viewOf } from '../cache/snapshot-cache.js';
import type { CertificateAuthority } from '../identity/ca.js';
import { WorkloadCertificates } from '../identity/workload-certificates.js';
import { logger } from '../log.js';
import { Metrics } from '../metrics.js';
import type { ConnectionRecord } from './connection.js';
import type { CsdsFleet } from './csds.js';
import { FleetCollections } from './csds-stream.js';
import { RequestTable } from './request-table.js';
import { type WorkloadCertificateIssuer, XdsServer, type XdsServerOptions } from './server.js';
import { askedSemiSpace, DEFAULT_WORKER_SEMI_SPACE_MB, workerExecArgv } from './young-generation.js';

/** A stream on a worker, as the primary's admin API shows it. */
interface WorkerProxy {
  record: ConnectionRecord;
  info: ProxyInfo;
  identityKey?: string;
  /** Type → name → version the client holds, when CSDS asked. */
  held?: [TypeUrl, [string, string][]][];
}

type ToWorker =
  | MirrorUpdate
  | { t: 'collect'; id: number; held?: boolean }
  | { t: 'acquired'; id: number; error?: string }
  | { t: 'fleet'; id: number; proxies: WorkerProxy[] }
  | { t: 'stop' };
type FromWorker =
  | MirrorRequest
  | { t: 'listening'; port: number }
  | { t: 'collected'; id: number; proxies: WorkerProxy[]; metrics: MetricObjectWithValues<MetricValue<string>>[]; openStreams: number; pid: number }
  | { t: 'acquire'; id: number; identityKey: string }
  | { t: 'release'; identityKey: string }
  | { t: 'fleet'; id: number };

/** The worker entry for a ControlPlane created in-process (the built file, from src/ or dist/). */
export const WORKER_MAIN = fileURLToPath(new URL('../../dist/xds/worker-main.js', import.meta.url));

/** How long the admin API waits for a worker's answer before showing what the others said. */
const COLLECT_TIMEOUT_MS = 2_000;

export interface WorkerPoolOptions {
  /** Worker processes (≥ 2; one process serves everything itself). */
  count: number;
  /** The script a worker runs (default: this process's own, with its own arguments — the CLI). */
  exec?: string;
  args?: string[];
  /** Extra environment for the workers. */
  env?: Record<string, string>;
}

/** The primary's side: forks the workers, feeds them variants, answers for them on the admin API. */
export class XdsWorkerPool {
  private readonly log = logger('workers');
  private readonly feed: VariantFeed;
  private readonly certificates?: WorkloadCertificates;
  private readonly workers = new Map<number, Worker>();
  private readonly collects = new RequestTable<Extract<FromWorker, { t: 'collected' }> | undefined>();
  /** CSDS fleet collections, at most one per interval however many workers' CSDS streams ask. */
  private readonly fleetCollections = new FleetCollections(() => this.collect(true));
  private stopping = false;
  private address = '';
  /** What the workers said at the last refresh: their streams, with views for the admin API. */
  private proxies: { record: ConnectionRecord; view: ProxyView }[] = [];
  private readonly views = new Map<ConnectionRecord, ProxyView>();
  private streams = 0;
  private readonly byWorker = new Map<number, number>();

  constructor(
    cache: SnapshotCache,
    private readonly metrics: Metrics,
    private readonly options: WorkerPoolOptions,
    ca?: CertificateAuthority,
  ) {
    this.feed = new VariantFeed(cache);
    if (ca) {
      this.certificates = new WorkloadCertificates(ca, cache, metrics);
      this.certificates.start();
    }
  }

  /** Forks the workers; resolves with the xDS port once every one listens. */
  async start(address: string): Promise<number> {
    this.address = address;
    if (process.env.MESHCP_WORKER_SEMI_SPACE_MB?.trim() && askedSemiSpace() === undefined) {
      this.log.warn('MESHCP_WORKER_SEMI_SPACE_MB is not a whole number of MiB from 0 to 1024; workers keep the default', {
        value: process.env.MESHCP_WORKER_SEMI_SPACE_MB.slice(0, 40),
        defaultMiB: DEFAULT_WORKER_SEMI_SPACE_MB,
      });
    }
    cluster.setupPrimary({
      ...(this.options.exec ? { exec: this.options.exec } : {}),
      ...(this.options.args ? { args: this.options.args } : {}),
      execArgv: workerExecArgv(),
      // Structured clone: Uint8Array bytes and Maps cross as they are, not as JSON.
      serialization: 'advanced',
    });
    const ports = await Promise.all(Array.from({ length: this.options.count }, () => this.fork()));
    return ports[0] ?? 0;
  }

  private fork(): Promise<number> {
    const worker = cluster.fork({ ...this.options.env, MESHCP_XDS_WORKER: '1', MESHCP_XDS_ADDRESS: this.address });
    this.workers.set(worker.id, worker);
    this.feed.addWorker(worker.id, (update) => this.send(worker, update));
    return new Promise((resolve, reject) => {
      let listening = false;
      worker.on('message', (message: FromWorker) => {
        if (message.t === 'listening') {
          listening = true;
          resolve(message.port);
        } else this.onMessage(worker, message);
      });
      worker.on('exit', (code, signal) => {
        this.workers.delete(worker.id);
        this.feed.removeWorker(worker.id);
        if (!listening) reject(new Error(`xDS worker ${worker.id} exited before listening (code ${code}, signal ${signal})`));
        else if (!this.stopping) {
          // Its proxies reconnect and land on the others (or the replacement).
          this.log.error('xDS worker exited; starting another', { worker: worker.id, code, signal });
          this.fork().catch((error: unknown) => this.log.error('xDS worker restart failed', { message: String(error) }));
        }
      });
    });
  }

  private send(worker: Worker, message: ToWorker): void {
    if (worker.isConnected()) worker.send(message);
  }

  private onMessage(worker: Worker, message: FromWorker): void {
    switch (message.t) {
      case 'want':
      case 'unwant':
        this.feed.handle(worker.id, message);
        return;
      case 'acquire': {
        const issued = this.certificates ? this.certificates.acquire(message.identityKey) : Promise.resolve();
        issued.then(
          () => this.send(worker, { t: 'acquired', id: message.id }),
          (error: unknown) => this.send(worker, { t: 'acquired', id: message.id, error: String((error as Error)?.message ?? error) }),
        );
        return;
      }
      case 'release':
        this.certificates?.release(message.identityKey);
        return;
      case 'collected':
        this.collects.settle(message.id, message);
        return;
      case 'fleet':
        // CSDS on one worker answers for the streams of all of them; the workers' requests share collections (csds-stream.ts).
        this.fleetCollections
          .since(performance.now())
          .then((answers) => this.send(worker, { t: 'fleet', id: message.id, proxies: answers.flatMap((answer) => answer.proxies) }));
        return;
    }
  }

  /** Asks every worker for its streams and metrics (the admin API calls this before it answers). */
  private async collect(held = false): Promise<Extract<FromWorker, { t: 'collected' }>[]> {
    const answers = await Promise.all(
      [...this.workers.values()].map((worker) =>
        this.collects.request((id) => this.send(worker, { t: 'collect', id, ...(held ? { held } : {}) }), { ms: COLLECT_TIMEOUT_MS, answer: undefined }),
      ),
    );
    return answers.filter((answer) => answer !== undefined);
  }

  /** Refreshes the streams the admin API shows. */
  async refresh(): Promise<void> {
    this.apply(await this.collect());
  }

  private apply(answers: Extract<FromWorker, { t: 'collected' }>[]): void {
    this.views.clear();
    this.proxies = [];
    this.streams = 0;
    this.byWorker.clear();
    for (const answer of answers) {
      this.streams += answer.openStreams;
      this.byWorker.set(answer.pid, answer.openStreams);
      for (const proxy of answer.proxies) {
        const view = viewOf(proxy.info, proxy.identityKey);
        this.views.set(proxy.record, view);
        this.proxies.push({ record: proxy.record, view });
      }
    }
  }

  /** /metrics: the primary's own metrics (translation, snapshots, errors) plus every worker's, summed. */
  async metricsText(): Promise<string> {
    const answers = await this.collect();
    this.apply(answers);
    // The xDS serving certificate is the workers' (each has its own TLS): the primary's absent one would read as 0.
    const own = (await this.metrics.registry.getMetricsAsJSON()).filter((metric) => !WORKER_ONLY_METRICS.has(metric.name));
    const all = [own, ...answers.map((answer) => answer.metrics)];
    return AggregatorRegistry.aggregate(all as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
  }

  connections(): ConnectionRecord[] {
    return this.proxies.map((proxy) => proxy.record);
  }

  viewOf(record: ConnectionRecord): ProxyView | undefined {
    return this.views.get(record);
  }

  openStreams(): number {
    return this.streams;
  }

  certificateStatus() {
    return this.certificates?.status() ?? [];
  }

  /** Open streams per worker process id, at the last refresh. */
  streamsByWorker(): ReadonlyMap<number, number> {
    return this.byWorker;
  }

  workerCount(): number {
    return this.workers.size;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.certificates?.stop();
    this.feed.stop();
    await Promise.all(
      [...this.workers.values()].map(
        (worker) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              worker.process.kill('SIGKILL');
              resolve();
            }, 3_000);
            worker.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            this.send(worker, { t: 'stop' });
          }),
      ),
    );
  }
}

/** The worker's SVID issuer: the primary issues, once per identity for all workers. */
class PrimaryCertificates implements WorkloadCertificateIssuer {
  /** Each answer is the primary's error message, or undefined once the SVID is issued. */
  private readonly pending = new RequestTable<string | undefined>();

  constructor(private readonly send: (message: FromWorker) => void) {}

  async acquire(identityKey: string): Promise<void> {
    const error = await this.pending.request((id) => this.send({ t: 'acquire', id, identityKey }));
    if (error) throw new Error(error);
  }

  settled(id: number, error?: string): void {
    this.pending.settle(id, error);
  }

  release(identityKey: string): void {
    this.send({ t: 'release', identityKey });
  }

  stop(): void {}

  /** Shown by the primary's admin API, which holds them. */
  status() {
    return [];
  }
}

/** True in a process forked by XdsWorkerPool. */
export function isXdsWorker(): boolean {
  return cluster.isWorker && process.env.MESHCP_XDS_WORKER === '1';
}

/**
 * A worker: an XdsServer on the shared port, reading the primary's variants. `options`
 * carry this worker's TLS and authenticator (built like the primary's); the CA stays
 * with the primary.
 */
/**
 * Builds the protobuf codec before the first stream: built lazily, its first request
 * held a worker's event loop for ~150 ms (the primary builds it while translating).
 */
function warmUpCodec(): void {
  const node = { id: 'warm-up', user_agent_name: 'envoy', metadata: { 'meshcp.io/namespace': 'warm-up' } };
  decodeDiscoveryRequest(encodeDiscoveryRequest({ node, type_url: CLUSTER, resource_names: ['a'], error_detail: { code: 3, message: 'x' } }));
  decodeDeltaDiscoveryRequest(encodeDeltaDiscoveryRequest({ node, type_url: CLUSTER, resource_names_subscribe: ['a'], initial_resource_versions: { a: '1' } }));
}

/** Metrics only the workers know (they serve xDS). */
const WORKER_ONLY_METRICS = new Set(['meshcp_serving_certificate_expiry_timestamp_seconds']);

/** Metrics only the primary knows (it issues the workload certificates). */
const PRIMARY_ONLY_METRICS = new Set([
  'meshcp_certificates_issued_total',
  'meshcp_certificate_expiry_earliest_timestamp_seconds',
  'meshcp_certificates_served',
  'meshcp_trust_bundle_roots',
]);

export async function runXdsWorker(options: Omit<XdsServerOptions, 'ca' | 'certificates' | 'csdsFleet'>, servingExpiry?: () => number): Promise<void> {
  const send = (message: FromWorker) => {
    if (process.connected) process.send?.(message);
  };
  const metrics = new Metrics();
  if (servingExpiry) metrics.watchServingCertificate(servingExpiry);
  const cache = new MirrorCache(send);
  const certificates = new PrimaryCertificates(send);
  const fleets = new RequestTable<WorkerProxy[]>();
  const csdsFleet = async (): Promise<CsdsFleet> => {
    const proxies = await fleets.request((id) => send({ t: 'fleet', id }));
    const held = new Map(proxies.map((proxy) => [proxy.record, new Map(proxy.held ?? [])]));
    return { connections: () => proxies.map((proxy) => proxy.record), resourcesHeld: (record, typeUrl) => held.get(record)?.get(typeUrl) ?? [] };
  };
  const server = new XdsServer(cache, metrics, { ...options, certificates, csdsFleet });
  metrics.watchFleet({
    connections: () => server.connections(),
    degradedCount: (record) => {
      const view = server.viewOf(record);
      return view ? cache.degradedFor(view).length : 0;
    },
  });
  const stop = () => {
    server.stop().finally(() => process.exit(0));
  };
  process.on('message', (message: ToWorker) => {
    switch (message.t) {
      case 'mirror':
        cache.apply(message);
        return;
      case 'acquired':
        certificates.settled(message.id, message.error);
        return;
      case 'fleet':
        fleets.settle(message.id, message.proxies);
        return;
      case 'collect':
        metrics.registry.getMetricsAsJSON().then((json) => {
          const proxies: WorkerProxy[] = [];
          for (const record of server.connections()) {
            const view = server.viewOf(record);
            if (!view) continue;
            const held = message.held
              ? [...record.types.keys()].map((typeUrl): [TypeUrl, [string, string][]] => [typeUrl, server.resourcesHeld(record, typeUrl)])
              : undefined;
            proxies.push({ record, info: view.info, ...(view.identityKey ? { identityKey: view.identityKey } : {}), ...(held ? { held } : {}) });
          }
          // Workload certificates live in the primary: a worker's empty gauges would read as 0 in the sum.
          const served = json.filter((metric) => !PRIMARY_ONLY_METRICS.has(metric.name));
          send({ t: 'collected', id: message.id, proxies, metrics: served, openStreams: server.openStreams(), pid: process.pid });
        });
        return;
      case 'stop':
        stop();
        return;
    }
  });
  // The primary is gone: nothing feeds this worker any more.
  process.on('disconnect', stop);
  // Ctrl-C reaches the whole process group: the primary decides when workers stop.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  warmUpCodec();
  const port = await server.start(process.env.MESHCP_XDS_ADDRESS ?? '127.0.0.1:18000');
  send({ t: 'listening', port });
}
