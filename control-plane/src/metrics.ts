import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ConnectionRecord } from './xds/connection.js';
import { statusOf } from './xds/connection.js';
import { worseState } from './xds/sync-state.js';

/** What the fleet gauges read at scrape time: the admin records of open streams, and a proxy's degraded features. */
export interface FleetSource {
  connections(): readonly ConnectionRecord[];
  degradedCount(record: ConnectionRecord): number;
}

/** A stream's state: its worst type (NACKED over STALE over NOT_SENT over SYNCED). */
export type StreamState = 'SYNCED' | 'STALE' | 'NACKED' | 'NOT_SENT';
const STREAM_STATES: readonly StreamState[] = ['SYNCED', 'STALE', 'NACKED', 'NOT_SENT'];

export function streamStateOf(record: ConnectionRecord): StreamState {
  let worst: StreamState | undefined;
  for (const type of record.types.values()) worst = worseState(worst, statusOf(type));
  return worst ?? 'NOT_SENT';
}

/** 1 ms … 30 s: a change reaches a near proxy in milliseconds, a loaded fleet in seconds. */
const CONVERGENCE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const PUSH_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1];

/** A loop turn later than this (beyond the 10 ms tick) counts as a late turn for the busy measure. */
const LATE_TURN_MS = 20;
const TICK_MS = 10;

/**
 * The server's own event loop, measured from inside by a 10 ms timer: the longest
 * delay of a turn (wall clock) and, for turns that came late, the main thread's CPU
 * time over the late interval (process.threadCpuUsage). On a loaded host the wall
 * delay also counts time the process only waited for a core (a stall it did not
 * cause); the CPU time is what meshcp's own code held the loop for, which neither a
 * loaded host inflates nor a fast one hides. Both are maxima since the previous
 * read: every scrape of /metrics starts a new window. (perf_hooks'
 * monitorEventLoopDelay drops the first sample after a reset, so a stall right
 * after a scrape went unseen: measured, Node 24.)
 */
export class EventLoopMonitor {
  private readonly ticker: NodeJS.Timeout;
  private delayMaxMs = 0;
  private busyMaxMs = 0;

  constructor() {
    let lastWall = performance.now();
    let lastCpu = process.threadCpuUsage();
    this.ticker = setInterval(() => {
      const wall = performance.now();
      const lateMs = wall - lastWall - TICK_MS;
      this.delayMaxMs = Math.max(this.delayMaxMs, lateMs);
      if (lateMs > LATE_TURN_MS) {
        const cpu = process.threadCpuUsage();
        const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
        // A turn cannot have held the loop longer than it was late, whatever the CPU clock says.
        this.busyMaxMs = Math.max(this.busyMaxMs, Math.min(lateMs, cpuMs));
        lastCpu = cpu;
      } else lastCpu = process.threadCpuUsage();
      lastWall = wall;
    }, TICK_MS);
    this.ticker.unref();
  }

  /** The maxima since the previous call, in seconds; starts the next window. */
  takeWindow(): { delayMaxSeconds: number; busyMaxSeconds: number } {
    const window = { delayMaxSeconds: Math.max(0, this.delayMaxMs) / 1000, busyMaxSeconds: this.busyMaxMs / 1000 };
    this.delayMaxMs = 0;
    this.busyMaxMs = 0;
    return window;
  }

  close(): void {
    clearInterval(this.ticker);
  }
}

/** What the certificate gauges read at scrape time: the SVIDs served now and the trust bundle. */
export interface CertificateSource {
  /** Expiry (epoch ms) of each workload certificate served now. */
  expiries(): number[];
  trustBundleRoots(): number;
}

/** All metrics of one control plane instance (a registry each, so tests can run several). */
export class Metrics {
  readonly registry = new Registry();
  private fleet?: FleetSource;
  readonly connectedStreams = new Gauge({ name: 'meshcp_xds_streams', help: 'Open xDS streams', labelNames: ['mode'], registers: [this.registry] });
  readonly responses = new Counter({
    name: 'meshcp_xds_responses_total',
    help: 'xDS responses sent',
    labelNames: ['type', 'mode'],
    registers: [this.registry],
  });
  readonly sharedResponses = new Counter({
    name: 'meshcp_xds_responses_shared_total',
    help: 'xDS responses sent as bytes already encoded for another stream (shared responses), by type',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly acks = new Counter({ name: 'meshcp_xds_acks_total', help: 'xDS ACKs received', labelNames: ['type'], registers: [this.registry] });
  /** The NACK's reason stays out of the labels (client-chosen text, unbounded): it is in the log line and the admin record. */
  readonly nacks = new Counter({
    name: 'meshcp_xds_nacks_total',
    help: 'xDS NACKs received, by type and the rejecting proxy version',
    labelNames: ['type', 'proxy_version'],
    registers: [this.registry],
  });
  readonly ignoredRequests = new Counter({
    name: 'meshcp_xds_requests_ignored_total',
    help: 'xDS requests ignored, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly rejectedResources = new Counter({
    name: 'meshcp_resources_rejected_total',
    help: 'Resources not published as translated: failed validation, or named what was not published (previous consistent version kept)',
    labelNames: ['type', 'reason'],
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: 'meshcp_xds_auth_failures_total',
    help: 'xDS streams refused: no or bad credentials, or a node claiming another workload than the one that authenticated',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly configErrors = new Gauge({ name: 'meshcp_config_errors', help: 'Source objects currently rejected', registers: [this.registry] });
  readonly snapshots = new Counter({
    name: 'meshcp_snapshots_total',
    help: 'Model updates applied to the cache, by kind',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly translationSeconds = new Histogram({
    name: 'meshcp_translation_seconds',
    help: 'Time to translate and encode one variant',
    labelNames: ['kind'],
    buckets: [0.0005, 0.002, 0.01, 0.05, 0.2, 1, 5],
    registers: [this.registry],
  });
  readonly convergenceSeconds = new Histogram({
    name: 'meshcp_proxy_convergence_seconds',
    help: "From a source change applied to the cache to a proxy's ACK of a response that includes it arriving (read off the wire, before it waits to be handled), by type",
    labelNames: ['type'],
    buckets: CONVERGENCE_BUCKETS,
    registers: [this.registry],
  });
  readonly requestWaitSeconds = new Histogram({
    name: 'meshcp_xds_request_wait_seconds',
    help: 'Time an xDS request waited between arriving and meshcp handling it (the request queue behind other streams), by mode',
    labelNames: ['mode'],
    buckets: CONVERGENCE_BUCKETS,
    registers: [this.registry],
  });
  readonly pushSeconds = new Histogram({
    name: 'meshcp_push_seconds',
    help: 'Time to plan, encode and hand one xDS response to the transport, by type',
    labelNames: ['type'],
    buckets: PUSH_BUCKETS,
    registers: [this.registry],
  });

  private readonly eventLoop = new EventLoopMonitor();
  private certificateSource?: CertificateSource;
  private servingExpiry?: () => number;
  /** Bounded labels: one trust domain per server. */
  readonly certificatesIssued = new Counter({
    name: 'meshcp_certificates_issued_total',
    help: 'Workload certificates (SVIDs) issued, first and renewals, by trust domain',
    labelNames: ['trust_domain'],
    registers: [this.registry],
  });

  // aggregator: how /metrics combines the value over worker processes (xds/workers.ts); sums unless said.
  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const metrics = this;
    // One read of the served certificates per scrape feeds both of their gauges (the earliest-expiry gauge is collected first).
    let expiries: readonly number[] = [];
    new Gauge({
      name: 'meshcp_certificate_expiry_earliest_timestamp_seconds',
      aggregator: 'min',
      help: 'When the soonest-expiring workload certificate served now expires (Unix time; absent with none). Renewal is at half life: alert when this comes within a quarter of the lifetime',
      registers: [this.registry],
      collect() {
        this.reset();
        expiries = metrics.certificateSource?.expiries() ?? [];
        // A reduce, not Math.min(...): a spread of one argument per identity can exceed the call stack.
        if (expiries.length > 0) this.set(expiries.reduce((a, b) => Math.min(a, b)) / 1000);
        // An unlabelled gauge keeps a 0 sample after reset(); 0 would read as "expired in 1970" to an alert.
        else this.remove();
      },
    });
    new Gauge({
      name: 'meshcp_serving_certificate_expiry_timestamp_seconds',
      aggregator: 'min',
      help: "When the xDS port's own serving certificate expires (Unix time; renewed at half life; absent without TLS)",
      registers: [this.registry],
      collect() {
        this.reset();
        const expiry = metrics.servingExpiry?.();
        if (expiry) this.set(expiry / 1000);
      },
    });
    new Gauge({
      name: 'meshcp_certificates_served',
      aggregator: 'max',
      help: 'Workload identities with a certificate served over SDS now',
      registers: [this.registry],
      collect() {
        this.set(expiries.length);
      },
    });
    new Gauge({
      name: 'meshcp_trust_bundle_roots',
      aggregator: 'max',
      help: 'Roots in the trust bundle served now (2 during a root rotation overlap)',
      registers: [this.registry],
      collect() {
        this.set(metrics.certificateSource?.trustBundleRoots() ?? 0);
      },
    });
    // One read of the monitor per scrape feeds both gauges (the delay gauge is collected first).
    let window = { delayMaxSeconds: 0, busyMaxSeconds: 0 };
    new Gauge({
      name: 'meshcp_event_loop_delay_max_seconds',
      aggregator: 'max',
      help: 'Longest event-loop delay since the previous scrape (wall clock; includes time the process waited for a core)',
      registers: [this.registry],
      collect() {
        window = metrics.eventLoop.takeWindow();
        this.set(window.delayMaxSeconds);
      },
    });
    new Gauge({
      name: 'meshcp_event_loop_busy_max_seconds',
      aggregator: 'max',
      help: "Longest late event-loop turn since the previous scrape, in the main thread's CPU time (what meshcp's own code held the loop for)",
      registers: [this.registry],
      collect() {
        this.set(window.busyMaxSeconds);
      },
    });
    // Fleet gauges are computed from the admin records when scraped: no per-event bookkeeping to get wrong.
    new Gauge({
      name: 'meshcp_proxies',
      help: 'Connected proxies (distinct node ids), by client kind, version and translator profile',
      labelNames: ['client_kind', 'version', 'profile'],
      registers: [this.registry],
      collect() {
        this.reset();
        const seen = new Set<string>();
        for (const record of metrics.fleet?.connections() ?? []) {
          if (seen.has(record.nodeId)) continue;
          seen.add(record.nodeId);
          this.inc({ client_kind: record.clientKind, version: record.version, profile: record.profile });
        }
      },
    });
    new Gauge({
      name: 'meshcp_proxy_streams',
      help: 'Open xDS streams by sync state (a stream is at its worst type: NACKED, STALE, NOT_SENT, else SYNCED)',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const counts = new Map<StreamState, number>(STREAM_STATES.map((s) => [s, 0]));
        for (const record of metrics.fleet?.connections() ?? []) {
          const state = streamStateOf(record);
          counts.set(state, (counts.get(state) ?? 0) + 1);
        }
        for (const [state, count] of counts) this.set({ state }, count);
      },
    });
    new Gauge({
      name: 'meshcp_proxies_degraded',
      help: 'Connected proxies given at least one feature degraded (their version or kind cannot take it), by client kind',
      labelNames: ['client_kind'],
      registers: [this.registry],
      collect() {
        this.reset();
        const fleet = metrics.fleet;
        if (!fleet) return;
        const seen = new Set<string>();
        for (const record of fleet.connections()) {
          if (seen.has(record.nodeId)) continue;
          seen.add(record.nodeId);
          this.inc({ client_kind: record.clientKind }, fleet.degradedCount(record) > 0 ? 1 : 0);
        }
      },
    });
  }

  /**
   * One proxy's ACK of a change: from `appliedAt` (the change reached the cache) to
   * `ackedAt` (the ACK was read off the wire), both performance.now() ms. The ACK's
   * wait in the request queue is not the proxy's: it is meshcp_xds_request_wait_seconds.
   */
  observeConvergence(type: string, appliedAt: number, ackedAt: number): void {
    this.convergenceSeconds.observe({ type }, Math.max(0, ackedAt - appliedAt) / 1000);
  }

  /** Stops the event-loop monitor's timer. */
  close(): void {
    this.eventLoop.close();
  }

  /** Tells the certificate gauges what is served (the workload certificates, when the server has a CA). */
  watchCertificates(source: CertificateSource): void {
    this.certificateSource = source;
  }

  /** Tells the serving-certificate gauge when the xDS port's certificate expires (epoch ms). */
  watchServingCertificate(expiry: () => number): void {
    this.servingExpiry = expiry;
  }

  /** Tells the fleet gauges where the connected proxies are (the xDS server, once it exists). */
  watchFleet(fleet: FleetSource): void {
    this.fleet = fleet;
  }
}
