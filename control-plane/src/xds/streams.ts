/**
 * Per-stream xDS state machines for SotW and Delta. Transport-free: requests come in
 * as decoded JSON, responses go out as bytes through a sink, so tests can drive them
 * directly and the gRPC layer stays thin.
 *
 * Flow control: at most one unanswered response per type per stream. A change that
 * arrives meanwhile marks the type dirty and is sent when the client answers, so a
 * slow stream costs one buffered response per type, never a queue, and never holds
 * back other streams.
 *
 * Cost: work is proportional to what changed. A plain ACK plans nothing; a cache
 * change marks only the types (and, for endpoints, only the clusters) it touched;
 * LDS/CDS compare precomputed set versions; RDS/EDS keep an incremental digest.
 */
import { formatVersion, localityKey, proxyFromNode } from '@meshcp/translators';
import {
  ADS_ADD_ORDER,
  CLUSTER,
  type DeltaDiscoveryRequestJson,
  type DiscoveryRequestJson,
  ENDPOINT,
  type EncodedResource,
  encodeDeltaResponse,
  encodeSotwResponse,
  isTypeUrl,
  LISTENER,
  ROUTE,
  SHORT_NAME,
  STATE_OF_THE_WORLD_TYPES,
  setVersion,
  type TypeUrl,
} from '@meshcp/xds-protos';
import type { CacheChange, ProxyView, SnapshotCache } from '../cache/snapshot-cache.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ConnectionRecord, TypeRecord } from './connection.js';
import { HeldVersions } from './held-versions.js';
import { classifyRequest, nextDeltaSubscription, nextSotwSubscription, pushOrder, type RequestKind, type Subscription } from './protocol.js';

export interface StreamSink {
  write(bytes: Buffer): void;
  /** Ends the stream with a gRPC status code and message. */
  fail(code: number, message: string): void;
}

export interface StreamContext {
  cache: SnapshotCache;
  metrics: Metrics;
  log: Logger;
  limits: { maxResourceNames: number };
  register(record: ConnectionRecord): void;
}

/** gRPC status codes we use. */
export const Status = { INVALID_ARGUMENT: 3, RESOURCE_EXHAUSTED: 8 } as const;

export class ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** What changed in the cache for one type since it was last planned. */
type Dirty = false | 'all' | Set<string>;

interface TypeStateBase {
  typeUrl: TypeUrl;
  sub: Subscription;
  latestNonce?: string;
  inFlight: boolean;
  /** The client opened or widened its subscription and is owed a response. */
  owed: Set<string> | 'all';
  dirty: Dirty;
  /**
   * Names to send even though the client holds their version: endpoints of clusters
   * that CDS just updated, which Envoy re-creates and warms only on a fresh EDS
   * response (go-control-plane #245: otherwise they wait out initial_fetch_timeout).
   */
  resend: Set<string>;
  /** Versions the client rejected: never re-sent (go-control-plane PR #794 looped). */
  rejected: Map<string, string>;
  record: TypeRecord;
}

interface Plan {
  resources: Iterable<EncodedResource>;
  removed: string[];
  /** Set for full-state (LDS/CDS) responses; the others derive it from their digest when sent. */
  version?: string;
  /** The full set a SotW LDS/CDS response replaces the client's with. */
  fullSet?: ReadonlyMap<string, EncodedResource>;
  /** Names the client holds at another version: updated, not added. */
  updated?: string[];
  onlyRemovals: boolean;
}

const CONFIG_TYPES: readonly TypeUrl[] = [CLUSTER, LISTENER, ROUTE];

function mergeDirty(current: Dirty, added: 'all' | Set<string>): Dirty {
  if (current === 'all' || added === 'all') return 'all';
  if (current === false) return new Set(added);
  for (const name of added) current.add(name);
  return current;
}

function hasOwed(state: TypeStateBase): boolean {
  return state.owed === 'all' || state.owed.size > 0 || state.resend.size > 0;
}

let nextStreamId = 1;

abstract class StreamBase<S extends TypeStateBase> {
  readonly id = nextStreamId++;
  protected view?: ProxyView;
  protected record?: ConnectionRecord;
  protected readonly types = new Map<TypeUrl, S>();
  private nonceCounter = 0;
  private closed = false;
  private endpointsMarked = false;

  constructor(
    protected readonly ctx: StreamContext,
    protected readonly sink: StreamSink,
    /** The one type a standalone (non-ADS) service carries, or undefined for ADS. */
    protected readonly onlyType: TypeUrl | undefined,
    private readonly mode: 'sotw' | 'delta',
  ) {}

  get proxyView(): ProxyView | undefined {
    return this.view;
  }

  /** What the admin API shows for this stream, once its node is known. */
  get connection(): ConnectionRecord | undefined {
    return this.record;
  }

  get nodeId(): string | undefined {
    return this.record?.nodeId;
  }

  close(): void {
    this.closed = true;
  }

  protected nextNonce(): string {
    return `${this.id}-${++this.nonceCounter}`;
  }

  /** Node on the first request, known type URL, bounded name lists; throws ProtocolError. */
  protected admit(node: unknown, typeUrlText: string | undefined, nameCount: number): TypeUrl | undefined {
    if (!this.view) {
      if (!node) throw new ProtocolError(Status.INVALID_ARGUMENT, 'the first request on a stream must carry node');
      const info = proxyFromNode(node as Parameters<typeof proxyFromNode>[0]);
      if (!info.nodeId) throw new ProtocolError(Status.INVALID_ARGUMENT, 'node.id is required');
      this.view = this.ctx.cache.viewFor(info);
      this.record = {
        streamId: this.id,
        nodeId: info.nodeId,
        clientKind: info.clientKind,
        version: info.version ? formatVersion(info.version) : info.versionText || 'unknown',
        profile: this.view.profile.name,
        profileWarnings: this.view.profile.warnings,
        mode: this.mode,
        service: info.service,
        namespace: info.namespace,
        locality: localityKey(info.locality),
        connectedAt: new Date().toISOString(),
        types: new Map(),
      };
      this.ctx.register(this.record);
      for (const warning of this.view.profile.warnings) this.ctx.log.warn(warning, { nodeId: info.nodeId });
    }
    if (nameCount > this.ctx.limits.maxResourceNames) {
      throw new ProtocolError(Status.RESOURCE_EXHAUSTED, `request names ${nameCount} resources; the limit is ${this.ctx.limits.maxResourceNames}`);
    }
    const typeUrl = typeUrlText || this.onlyType;
    if (!typeUrl) throw new ProtocolError(Status.INVALID_ARGUMENT, 'type_url is required on ADS streams');
    if (this.onlyType && typeUrl !== this.onlyType) {
      throw new ProtocolError(Status.INVALID_ARGUMENT, `this service serves ${this.onlyType}, not ${typeUrl}`);
    }
    if (!isTypeUrl(typeUrl)) {
      // Clients may ask for types we do not serve (secrets, runtime): no answer, just count it.
      this.ctx.metrics.ignoredRequests.inc({ reason: 'unknown_type' });
      this.ctx.log.debug('ignoring request for a type meshcp does not serve', { typeUrl, nodeId: this.record?.nodeId });
      return undefined;
    }
    return typeUrl;
  }

  /**
   * The common start of every request: admission, then what the request means for its
   * type. Undefined when it needs no further handling (an unserved type, a stale nonce).
   */
  protected classify(
    node: unknown,
    typeUrlText: string | undefined,
    nameCount: number,
    nonce: string | undefined,
    hasError: boolean,
  ): { typeUrl: TypeUrl; state: S | undefined; kind: RequestKind } | undefined {
    const typeUrl = this.admit(node, typeUrlText, nameCount);
    if (!typeUrl) return undefined;
    const state = this.types.get(typeUrl);
    const kind = classifyRequest(state, nonce, hasError);
    if (kind === 'stale') {
      this.ctx.metrics.ignoredRequests.inc({ reason: 'stale_nonce' });
      return undefined;
    }
    return { typeUrl, state, kind };
  }

  protected newRecord(typeUrl: TypeUrl): TypeRecord {
    const record: TypeRecord = { waiting: false, lastResponseNacked: false };
    this.record?.types.set(typeUrl, record);
    return record;
  }

  protected recordAck(state: S): void {
    state.inFlight = false;
    state.record.ackedVersion = state.record.sentVersion;
    state.record.lastResponseNacked = false;
    this.ctx.metrics.acks.inc({ type: SHORT_NAME[state.typeUrl] });
  }

  protected recordNack(state: S, message: string): void {
    state.inFlight = false;
    const version = state.record.sentVersion ?? '';
    state.record.lastNack = { version, error: message, at: new Date().toISOString() };
    state.record.lastResponseNacked = true;
    this.ctx.metrics.nacks.inc({ type: SHORT_NAME[state.typeUrl] });
    this.ctx.log.warn('proxy rejected a response (NACK)', { nodeId: this.record?.nodeId, type: SHORT_NAME[state.typeUrl], version, error: message });
  }

  /** Called by the server when the cache changed; marks only what the change touched. */
  onCacheChange(change: CacheChange): void {
    let touched = false;
    if (change.config) {
      for (const typeUrl of CONFIG_TYPES) {
        const state = this.types.get(typeUrl);
        if (state) {
          state.dirty = 'all';
          touched = true;
        }
      }
    }
    const endpoints = this.types.get(ENDPOINT);
    if (endpoints && change.clusters.size > 0) {
      const hit = endpoints.sub.wildcard ? new Set(change.clusters) : new Set([...change.clusters].filter((c) => endpoints.sub.names.has(c)));
      if (hit.size > 0) {
        endpoints.dirty = mergeDirty(endpoints.dirty, hit);
        touched = true;
      }
    }
    if (touched) this.pump(false);
  }

  /**
   * Sends what is owed or changed. `requestDriven` responses answer a subscription
   * the client just opened and go out at once; change-driven pushes follow the ADS
   * order and wait while an earlier type has a response unanswered.
   */
  protected pump(requestDriven: boolean): void {
    if (this.closed || !this.view || !this.ctx.cache.isReady()) return;
    const plans = new Map<TypeUrl, Plan>();
    for (const state of this.types.values()) {
      const pending = state.dirty !== false || hasOwed(state);
      state.record.waiting = state.inFlight && pending;
      if (!pending || state.inFlight) continue;
      const plan = this.plan(state);
      if (plan) plans.set(state.typeUrl, plan);
      else {
        state.dirty = false;
        state.owed = new Set();
      }
    }
    if (plans.size === 0) return;
    const onlyRemovals = [...plans.values()].every((p) => p.onlyRemovals);
    const order = pushOrder(ADS_ADD_ORDER, onlyRemovals);
    const unanswered = new Set<TypeUrl>();
    for (const typeUrl of order) {
      const state = this.types.get(typeUrl);
      if (!state) continue;
      // Envoy ACKs an updated cluster only once it has warmed on EDS, so EDS must not
      // wait for that ACK; the other types wait for every earlier one.
      const blocked = [...unanswered].some((earlier) => !(typeUrl === ENDPOINT && earlier === CLUSTER));
      const plan = plans.get(typeUrl);
      if (plan && (!blocked || (requestDriven && hasOwed(state)))) this.send(state, plan);
      else if (plan) state.record.waiting = true; // stays dirty: planned again after the ACK
      if (state.inFlight) unanswered.add(typeUrl);
    }
    // A CDS response that updated clusters marked their endpoints for re-sending after
    // the plans above were made; plan again (terminates: CDS is now in flight).
    if (this.endpointsMarked) {
      this.endpointsMarked = false;
      this.pump(false);
    }
  }

  private send(state: S, plan: Plan): void {
    const nonce = this.nextNonce();
    state.latestNonce = nonce;
    state.inFlight = true;
    state.owed = new Set();
    state.dirty = false;
    state.resend = new Set();
    state.record.waiting = false;
    const version = this.applySent(state, plan);
    if (state.typeUrl === CLUSTER) this.resendEndpointsOfUpdatedClusters(plan);
    state.record.sentVersion = version;
    this.sink.write(this.encode(state, plan, version, nonce));
    this.ctx.metrics.responses.inc({ type: SHORT_NAME[state.typeUrl], mode: this.mode });
  }

  /** Clusters this response changed (not added): their endpoints must follow. */
  private resendEndpointsOfUpdatedClusters(plan: Plan): void {
    const endpoints = this.types.get(ENDPOINT);
    if (!endpoints) return;
    for (const name of plan.updated ?? []) {
      if (endpoints.sub.wildcard || endpoints.sub.names.has(name)) {
        endpoints.resend.add(name);
        this.endpointsMarked = true;
      }
    }
  }

  /** Decides what to send for one type, without changing state; undefined when nothing. */
  protected abstract plan(state: S): Plan | undefined;
  /** Records what the client holds once it accepts the response; returns its version. */
  protected abstract applySent(state: S, plan: Plan): string;
  protected abstract encode(state: S, plan: Plan, version: string, nonce: string): Buffer;

  /**
   * Names worth looking at for a named-resource plan: everything subscribed when the
   * whole type is dirty or owed, else just the dirty and owed names.
   */
  protected candidates(state: S): Iterable<string> {
    const view = this.view as ProxyView;
    const everything = (): Iterable<string> => {
      if (!state.sub.wildcard) return state.sub.names;
      return state.typeUrl === ENDPOINT ? this.ctx.cache.endpointNames() : this.ctx.cache.resourceSet(view, state.typeUrl).map.keys();
    };
    if (state.owed === 'all' || state.dirty === 'all') return everything();
    const names = new Set<string>([...state.owed, ...state.resend]);
    if (state.dirty) for (const name of state.dirty) if (state.sub.wildcard || state.sub.names.has(name)) names.add(name);
    return names;
  }

  protected isOwed(state: S, name: string): boolean {
    return state.owed === 'all' || state.owed.has(name) || state.resend.has(name);
  }
}

interface SotwState extends TypeStateBase {
  /** RDS/EDS: what the client holds if it accepts everything sent; its digest is the `version_info`. */
  held: HeldVersions;
  /** LDS/CDS: the set last sent and the one before it, shared with the cache. */
  sentSet?: ReadonlyMap<string, EncodedResource>;
  previousSet?: ReadonlyMap<string, EncodedResource>;
  /** The set version a full-state (LDS/CDS) response was rejected at. */
  rejectedSetVersion?: string;
}

export class SotwStream extends StreamBase<SotwState> {
  constructor(ctx: StreamContext, sink: StreamSink, onlyType?: TypeUrl) {
    super(ctx, sink, onlyType, 'sotw');
  }

  onRequest(request: DiscoveryRequestJson): void {
    const names = request.resource_names ?? [];
    const classified = this.classify(request.node, request.type_url, names.length, request.response_nonce, request.error_detail !== undefined);
    if (!classified) return;
    const { typeUrl, kind } = classified;
    let state = classified.state;
    if (!state) {
      state = {
        typeUrl,
        sub: nextSotwSubscription(undefined, typeUrl, names),
        inFlight: false,
        owed: 'all',
        dirty: false,
        resend: new Set(),
        rejected: new Map(),
        record: this.newRecord(typeUrl),
        held: new HeldVersions(),
      };
      this.types.set(typeUrl, state);
    } else {
      if (kind === 'ack') this.recordAck(state);
      else if (kind === 'nack') this.undoLastSent(state, request.error_detail?.message ?? '(no message)');
      this.resubscribe(state, names);
    }
    this.pump(true);
  }

  private undoLastSent(state: SotwState, message: string): void {
    this.recordNack(state, message);
    if (STATE_OF_THE_WORLD_TYPES.has(state.typeUrl)) {
      state.rejectedSetVersion = state.record.sentVersion;
      state.sentSet = state.previousSet;
      return;
    }
    for (const [name, version] of state.held.undo()) state.rejected.set(name, version);
  }

  private resubscribe(state: SotwState, names: readonly string[]): void {
    const previous = state.sub;
    // Envoy repeats the full name list on every ACK: skip the common unchanged case cheaply.
    if (!previous.wildcard && names.length === previous.names.size && names.every((n) => previous.names.has(n))) return;
    state.sub = nextSotwSubscription(previous, state.typeUrl, names);
    if (state.sub.wildcard && !previous.wildcard) state.owed = 'all';
    if (state.owed !== 'all') for (const name of state.sub.names) if (!previous.names.has(name)) state.owed.add(name);
    // Forget what the client had of names it dropped, so a later re-subscribe gets them
    // again (go-control-plane #583: a re-added cluster never got its endpoints).
    if (!state.sub.wildcard) {
      for (const name of [...state.held.names()]) if (!state.sub.names.has(name)) state.held.forget(name);
    }
  }

  protected plan(state: SotwState): Plan | undefined {
    const view = this.view as ProxyView;
    if (STATE_OF_THE_WORLD_TYPES.has(state.typeUrl)) {
      const full = this.ctx.cache.resourceSet(view, state.typeUrl);
      let set = full.map;
      let version = full.version;
      if (!state.sub.wildcard) {
        const named = new Map<string, EncodedResource>();
        for (const name of state.sub.names) {
          const resource = full.map.get(name);
          if (resource) named.set(name, resource);
        }
        set = named;
        version = setVersion(named.values());
      }
      if (!hasOwed(state) && (version === state.record.sentVersion || version === state.rejectedSetVersion)) return undefined;
      const before = state.sentSet;
      const updated: string[] = [];
      if (before) for (const r of set.values()) if (before.has(r.name) && before.get(r.name)?.version !== r.version) updated.push(r.name);
      const onlyRemovals = before !== undefined && set.size < before.size && updated.length === 0 && [...set.values()].every((r) => before.has(r.name));
      return { resources: set.values(), removed: [], version, fullSet: set, updated, onlyRemovals };
    }
    const changed: EncodedResource[] = [];
    for (const name of this.candidates(state)) {
      const resource = this.ctx.cache.resource(view, state.typeUrl, name);
      if (!resource || state.rejected.get(name) === resource.version) continue;
      if (this.isOwed(state, name) || state.held.get(name) !== resource.version) changed.push(resource);
    }
    return changed.length > 0 ? { resources: changed, removed: [], onlyRemovals: false } : undefined;
  }

  protected applySent(state: SotwState, plan: Plan): string {
    if (plan.fullSet && plan.version) {
      state.previousSet = state.sentSet;
      state.sentSet = plan.fullSet;
      return plan.version;
    }
    return state.held.apply(plan.resources);
  }

  protected encode(state: SotwState, plan: Plan, version: string, nonce: string): Buffer {
    return encodeSotwResponse({ versionInfo: version, typeUrl: state.typeUrl, nonce, resources: plan.resources });
  }
}

interface DeltaState extends TypeStateBase {
  /** What the client holds: initial_resource_versions, then what we sent. */
  held: HeldVersions;
}

export class DeltaStream extends StreamBase<DeltaState> {
  constructor(ctx: StreamContext, sink: StreamSink, onlyType?: TypeUrl) {
    super(ctx, sink, onlyType, 'delta');
  }

  onRequest(request: DeltaDiscoveryRequestJson): void {
    const subscribe = request.resource_names_subscribe ?? [];
    const unsubscribe = request.resource_names_unsubscribe ?? [];
    const classified = this.classify(
      request.node,
      request.type_url,
      subscribe.length + unsubscribe.length,
      request.response_nonce,
      request.error_detail !== undefined,
    );
    if (!classified) return;
    const { typeUrl, kind } = classified;
    let state = classified.state;
    if (!state) {
      const sub = nextDeltaSubscription(undefined, typeUrl, subscribe, unsubscribe);
      const held = new HeldVersions();
      // Reconnect: the client says what it already has, so unchanged resources are not re-sent.
      for (const [name, version] of Object.entries(request.initial_resource_versions ?? {})) {
        if (sub.wildcard || sub.names.has(name)) held.hold(name, version);
      }
      const owed = sub.wildcard ? 'all' : new Set([...sub.names, ...held.names()]);
      state = {
        typeUrl,
        sub,
        inFlight: false,
        owed,
        dirty: false,
        resend: new Set(),
        rejected: new Map(),
        record: this.newRecord(typeUrl),
        held,
      };
      this.types.set(typeUrl, state);
    } else {
      if (kind === 'ack') this.recordAck(state);
      else if (kind === 'nack') this.undoLastSent(state, request.error_detail?.message ?? '(no message)');
      const previous = state.sub;
      state.sub = nextDeltaSubscription(previous, typeUrl, subscribe, unsubscribe);
      if (state.sub.wildcard && !previous.wildcard) state.owed = 'all';
      const owed = state.owed;
      if (owed !== 'all') for (const name of subscribe) if (name !== '*') owed.add(name);
      // Unsubscribed names are simply forgotten: no removal is sent for them.
      for (const name of unsubscribe) state.held.forget(name);
      if (!state.sub.wildcard && unsubscribe.includes('*')) for (const name of [...state.held.names()]) if (!state.sub.names.has(name)) state.held.forget(name);
    }
    this.pump(true);
  }

  private undoLastSent(state: DeltaState, message: string): void {
    this.recordNack(state, message);
    for (const [name, version] of state.held.undo()) state.rejected.set(name, version);
  }

  protected plan(state: DeltaState): Plan | undefined {
    const view = this.view as ProxyView;
    const changed: EncodedResource[] = [];
    const removed: string[] = [];
    const looked = new Set<string>();
    for (const name of this.candidates(state)) {
      looked.add(name);
      const resource = this.ctx.cache.resource(view, state.typeUrl, name);
      if (!resource) {
        // Only what the client holds, or asked for by name, is ever reported removed:
        // no phantom removals (go-control-plane PR #488).
        if (state.held.has(name) || this.isOwed(state, name)) removed.push(name);
        continue;
      }
      if ((state.held.get(name) !== resource.version || state.resend.has(name)) && state.rejected.get(name) !== resource.version) changed.push(resource);
    }
    // A whole-type check of a wildcard subscription also finds what vanished from the set.
    if (state.sub.wildcard && (state.owed === 'all' || state.dirty === 'all')) {
      for (const name of state.held.names()) if (!looked.has(name) && !removed.includes(name)) removed.push(name);
    }
    if (changed.length === 0 && removed.length === 0) {
      // A reconnecting client that already holds every current version is in sync
      // although nothing is sent: record that, so the admin API does not say NOT_SENT.
      if (state.record.sentVersion === undefined && state.held.size > 0) {
        state.record.sentVersion = state.held.version();
        state.record.ackedVersion = state.record.sentVersion;
      }
      return undefined;
    }
    const updated = changed.filter((r) => state.held.has(r.name)).map((r) => r.name);
    return { resources: changed, removed, updated, onlyRemovals: changed.length === 0 };
  }

  protected applySent(state: DeltaState, plan: Plan): string {
    return state.held.apply(plan.resources, plan.removed);
  }

  protected encode(state: DeltaState, plan: Plan, version: string, nonce: string): Buffer {
    return encodeDeltaResponse({ systemVersionInfo: version, typeUrl: state.typeUrl, nonce, resources: plan.resources, removed: plan.removed });
  }
}
