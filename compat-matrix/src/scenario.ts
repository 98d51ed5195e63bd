/**
 * A scenario is one row of the matrix: it runs against every Envoy target, each
 * run (a cell) with its own control plane and its own Envoy. Scenarios live one
 * per file in src/scenarios/ and are discovered by the registry (see
 * src/scenarios/README.md): adding a row is adding a file.
 */
import type { ControlPlane } from 'meshcp';
import type { Cleanup } from './support/cleanup.js';
import type { HttpResult } from './support/net.js';
import type { Upstream } from './support/upstream.js';

export type XdsShort = 'CDS' | 'EDS' | 'LDS' | 'RDS';
export const XDS_TYPES: readonly XdsShort[] = ['CDS', 'EDS', 'LDS', 'RDS'];

/** One type of one proxy in the control plane's /debug/proxies. */
export interface TypeView {
  short: string;
  status: 'SYNCED' | 'STALE' | 'NACKED' | 'NOT_SENT' | string;
  sentVersion: string | null;
  ackedVersion: string | null;
  lastNack: { version: string; error: string } | null;
}

export interface ProxyView {
  nodeId: string;
  streamId: number;
  version: string;
  profile: string;
  mode: 'sotw' | 'delta';
  /** Who the stream authenticated as (the SPIFFE ID of the proxy's client certificate). */
  identity?: string;
  connectedAt: string;
  types: Record<string, TypeView>;
}

export interface Scenario {
  /** Stable id, used in the report, on the command line (--scenarios) and in log paths. */
  id: string;
  title: string;
  /** Position in the report (rows sorted by order, then id). */
  order?: number;
  /** Overrides the runner's per-cell timeout. */
  timeoutMs?: number;
  /** A reason when this scenario does not apply to that Envoy version (the cell is reported as skipped). */
  skip?(version: string | undefined): string | undefined;
  /** The scenario body: throw (e.g. a failed assertion) to fail the cell. */
  run(cell: CellContext): Promise<void>;
}

export interface StartOptions {
  /** The mesh file's first content. */
  mesh: string;
  /** Delta ADS instead of SotW. */
  delta?: boolean;
  region?: string;
  zone?: string;
  /** Lifetime of workload SVIDs the control plane issues over SDS (default 24 h; renewed at half of it). */
  svidTtlMs?: number;
}

/** A further Envoy in the cell (namespace shop), with its own SVID: a service's sidecar (inbound in front of an app) or another client. */
export interface SidecarOptions {
  /** Short name, unique in the cell: part of the node id, container name and log file. */
  name: string;
  /** The node's service (default: name). */
  service?: string;
  serviceAccount: string;
  /** The inbound listener's port (what the MeshService's endpoint points at) and the app behind it. */
  inboundPort?: number;
  appPort?: number;
}

/** The outbound side of the cell's Envoy, and its admin API. */
export interface EnvoyHandle {
  adminPort: number;
  outboundPort: number;
  /** The version Envoy reports on /server_info. */
  version: string;
  admin(path: string): Promise<string>;
  request(host: string, path?: string): Promise<HttpResult>;
  /** /clusters as host:port lists per cluster. */
  clusterHosts(): Promise<Map<string, string[]>>;
  /** One counter or gauge from /stats (undefined when absent). */
  stat(name: string): Promise<number | undefined>;
  /** The dynamic resources Envoy holds, from /config_dump: type → resource name → version_info. */
  resourceVersions(): Promise<ResourceVersions>;
}

/** type (CDS, EDS, LDS, RDS) → resource name → version. */
export type ResourceVersions = Record<string, Record<string, string>>;

/** Background traffic through Envoy; `stop` tallies what happened. */
export interface Traffic {
  /** A snapshot of the tally so far. */
  progress(): TrafficResult;
  stop(): Promise<TrafficResult>;
}

export interface TrafficResult {
  sent: number;
  ok: number;
  failed: number;
  /** Distinct failure descriptions with counts, e.g. "HTTP 503: no healthy upstream" → 3. */
  failures: Record<string, number>;
  /** Bodies of successful responses with counts. */
  bodies: Record<string, number>;
}

export interface CellContext {
  /** The Envoy version under test (from the target, or from /server_info for an image). */
  readonly version: string | undefined;
  readonly targetLabel: string;
  readonly nodeId: string;
  /** Aborted when the cell times out; every wait below honours it. */
  readonly signal: AbortSignal;
  readonly cleanup: Cleanup;
  /** The cell's log directory. */
  readonly dir: string;
  /** Appends a line to the cell's log. */
  log(message: string): void;
  /** Records a fact for the report (e.g. the NACK text a passing scenario saw). */
  note(key: string, value: string | number): void;
  /** Starts an upstream HTTP server answering its own name. */
  upstream(name: string): Promise<Upstream>;
  /** Starts the control plane on `mesh` and the Envoy of this cell, and waits until every type is ACKed. */
  start(options: StartOptions): Promise<void>;
  /** Rewrites the mesh file the control plane watches. */
  writeMesh(yaml: string): void;
  readonly plane: ControlPlane;
  readonly envoy: EnvoyHandle;
  /**
   * Starts another Envoy of the cell's runtime against the cell's control plane, with an
   * SVID for ns/shop/sa/`serviceAccount`; waits for /ready = LIVE. (The cell's own Envoy is ns/shop/sa/compat-client.)
   */
  sidecar(options: SidecarOptions): Promise<EnvoyHandle>;
  /** Stops the control plane and starts a new one on the same ports and file. */
  restartPlane(): Promise<void>;
  /** This cell's proxy in the current control plane's /debug/proxies (undefined until it connects). */
  proxy(): Promise<ProxyView | undefined>;
  /** What the control plane serves this proxy, per resource: /debug/config_dump?proxy=ID. */
  servedVersions(): Promise<ResourceVersions>;
  /** Per-type views keyed by short name (CDS, EDS, LDS, RDS). */
  types(): Promise<Record<string, TypeView>>;
  /**
   * Waits until every type is SYNCED; a NACK fails at once with Envoy's text, except a
   * NACK of `expectedNack` (a version the scenario knows was rejected and is replacing).
   */
  waitSynced(what?: string, timeoutMs?: number, expectedNack?: string): Promise<Record<string, TypeView>>;
  waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs?: number, intervalMs?: number): Promise<T>;
  /** Requests `host``path` back to back (one at a time) until stopped. */
  traffic(host: string, path?: string): Traffic;
  /** Sends `count` requests and counts bodies ("HTTP nnn" for non-200). */
  tally(host: string, path: string, count: number): Promise<Map<string, number>>;
}

/** A failure whose message is already the clear reason (no stack needed in the report). */
export class CellFailure extends Error {
  constructor(
    message: string,
    readonly phase: CellPhase,
  ) {
    super(message);
    this.name = 'CellFailure';
  }
}

export type CellPhase = 'provision' | 'control-plane' | 'envoy-start' | 'connect' | 'sync' | 'scenario' | 'timeout';
