/**
 * Per-stream xDS state machines for SotW and Delta. Transport-free: requests come in
 * as decoded JSON, responses go out as bytes through a sink, so tests can drive them
 * directly and the gRPC layer stays thin.
 *
 * Flow control: at most one unanswered response per type per stream. A change that
 * arrives meanwhile marks the type dirty and is sent when the client answers, so a
 * slow stream costs one buffered response per type, never a queue, and never holds
 * back other streams.
 */

import { formatVersion, localityKey, proxyFromNode } from '@meshcp/translators';
import {
  ADS_ADD_ORDER,
  type DeltaDiscoveryRequestJson,
  type DiscoveryRequestJson,
  ENDPOINT,
  type EncodedResource,
  encodeDeltaResponse,
  encodeSotwResponse,
  isTypeUrl,
  SHORT_NAME,
  STATE_OF_THE_WORLD_TYPES,
  setVersion,
  type TypeUrl,
} from '@meshcp/xds-protos';
import type { CacheChange, ProxyView, SnapshotCache } from '../cache/snapshot-cache.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ConnectionRecord, TypeRecord } from './connection.js';
import { classifyRequest, nextDeltaSubscription, nextSotwSubscription, pushOrder, type Subscription } from './protocol.js';

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
export const Status = { INVALID_ARGUMENT: 3, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9 } as const;

export class ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

interface TypeStateBase {
  typeUrl: TypeUrl;
  sub: Subscription;
  latestNonce?: string;
  inFlight: boolean;
  /** The client opened or widened its subscription and is owed a response. */
  owed: Set<string> | 'all';
  /** Versions the client rejected: never re-sent (go-control-plane PR #794 looped). */
  rejected: Map<string, string>;
  record: TypeRecord;
}

interface Plan {
  resources: EncodedResource[];
  removed: string[];
  version: string;
  onlyRemovals: boolean;
}

let nextStreamId = 1;

abstract class StreamBase<S extends TypeStateBase> {
  readonly id = nextStreamId++;
  protected view?: ProxyView;
  protected record?: ConnectionRecord;
  protected readonly types = new Map<TypeUrl, S>();
  private nonceCounter = 0;
  private closed = false;

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

  /** Called by the server when the cache changed; skips streams the change cannot affect. */
  onCacheChange(change: CacheChange): void {
    if (!change.config) {
      const endpoints = this.types.get(ENDPOINT);
      if (!endpoints) return;
      const affected = endpoints.sub.wildcard || [...change.clusters].some((c) => endpoints.sub.names.has(c));
      if (!affected) return;
    }
    this.pump(false);
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
      if (state.inFlight) {
        state.record.waiting = true;
        continue;
      }
      const plan = this.plan(state);
      if (plan) plans.set(state.typeUrl, plan);
      else state.record.waiting = false;
    }
    if (plans.size === 0) return;
    const onlyRemovals = [...plans.values()].every((p) => p.onlyRemovals);
    const order = pushOrder(ADS_ADD_ORDER, onlyRemovals);
    let blocked = false;
    for (const typeUrl of order) {
      const state = this.types.get(typeUrl);
      if (!state) continue;
      const plan = plans.get(typeUrl);
      const owed = state.owed === 'all' || state.owed.size > 0;
      if (plan && (!blocked || (requestDriven && owed))) {
        this.send(state, plan);
        state.record.waiting = false;
      } else if (plan) {
        state.record.waiting = true;
      }
      if (state.inFlight) blocked = true;
    }
  }

  private send(state: S, plan: Plan): void {
    const nonce = this.nextNonce();
    state.latestNonce = nonce;
    state.inFlight = true;
    state.owed = new Set();
    state.record.sentVersion = plan.version;
    this.applySent(state, plan);
    this.sink.write(this.encode(state, plan, nonce));
    this.ctx.metrics.responses.inc({ type: SHORT_NAME[state.typeUrl], mode: this.mode });
  }

  protected abstract plan(state: S): Plan | undefined;
  protected abstract applySent(state: S, plan: Plan): void;
  protected abstract encode(state: S, plan: Plan, nonce: string): Buffer;

  protected desired(state: S): Map<string, EncodedResource> {
    const view = this.view as ProxyView;
    return this.ctx.cache.resources(view, state.typeUrl, state.sub.wildcard ? 'all' : state.sub.names);
  }
}

interface SotwState extends TypeStateBase {
  /** What the client holds if it accepts everything we sent. */
  sent: Map<string, string>;
  /** What the client holds as of its last ACK. */
  acked: Map<string, string>;
  /** The set version a full-state (LDS/CDS) response was rejected at. */
  rejectedSetVersion?: string;
  lastSentNames: Map<string, string>;
}

export class SotwStream extends StreamBase<SotwState> {
  constructor(ctx: StreamContext, sink: StreamSink, onlyType?: TypeUrl) {
    super(ctx, sink, onlyType, 'sotw');
  }

  onRequest(request: DiscoveryRequestJson): void {
    const names = request.resource_names ?? [];
    const typeUrl = this.admit(request.node, request.type_url, names.length);
    if (!typeUrl) return;
    let state = this.types.get(typeUrl);
    const kind = classifyRequest(state, request.response_nonce, request.error_detail !== undefined);
    if (kind === 'stale') {
      this.ctx.metrics.ignoredRequests.inc({ reason: 'stale_nonce' });
      return;
    }
    if (!state) {
      state = {
        typeUrl,
        sub: nextSotwSubscription(undefined, typeUrl, names),
        inFlight: false,
        owed: 'all',
        rejected: new Map(),
        record: this.newRecord(typeUrl),
        sent: new Map(),
        acked: new Map(),
        lastSentNames: new Map(),
      };
      this.types.set(typeUrl, state);
    } else {
      if (kind === 'ack') {
        this.recordAck(state);
        state.acked = new Map(state.sent);
      } else if (kind === 'nack') {
        this.recordNack(state, request.error_detail?.message ?? '(no message)');
        for (const [name, version] of state.lastSentNames) state.rejected.set(name, version);
        if (STATE_OF_THE_WORLD_TYPES.has(typeUrl)) state.rejectedSetVersion = state.record.sentVersion;
        state.sent = new Map(state.acked);
      }
      this.resubscribe(state, names);
    }
    this.pump(true);
  }

  private resubscribe(state: SotwState, names: readonly string[]): void {
    const previous = state.sub;
    state.sub = nextSotwSubscription(previous, state.typeUrl, names);
    if (state.sub.wildcard && !previous.wildcard) state.owed = 'all';
    const added = [...state.sub.names].filter((n) => !previous.names.has(n));
    if (added.length > 0 && state.owed !== 'all') for (const n of added) state.owed.add(n);
    // Forget what the client had of names it dropped, so a later re-subscribe gets them
    // again (go-control-plane #583: a re-added cluster never got its endpoints).
    if (!state.sub.wildcard) {
      for (const name of [...state.sent.keys()]) {
        if (!state.sub.names.has(name)) {
          state.sent.delete(name);
          state.acked.delete(name);
        }
      }
    }
  }

  protected plan(state: SotwState): Plan | undefined {
    const desired = this.desired(state);
    if (STATE_OF_THE_WORLD_TYPES.has(state.typeUrl)) {
      const version = setVersion(desired.values());
      const owed = state.owed === 'all' || state.owed.size > 0;
      if (!owed && (version === state.record.sentVersion || version === state.rejectedSetVersion)) return undefined;
      const onlyRemovals = [...desired.values()].every((r) => state.sent.get(r.name) === r.version) && desired.size < state.sent.size;
      return { resources: [...desired.values()], removed: [], version, onlyRemovals };
    }
    const owedNames = state.owed;
    const isOwed = (name: string) => owedNames === 'all' || owedNames.has(name);
    const changed = [...desired.values()].filter((r) => (isOwed(r.name) || state.sent.get(r.name) !== r.version) && state.rejected.get(r.name) !== r.version);
    if (changed.length === 0) {
      state.owed = new Set();
      return undefined;
    }
    const holding = new Map(state.sent);
    for (const r of changed) holding.set(r.name, r.version);
    const version = setVersion([...holding].map(([name, v]) => ({ name, version: v })));
    return { resources: changed, removed: [], version, onlyRemovals: false };
  }

  protected applySent(state: SotwState, plan: Plan): void {
    state.lastSentNames = new Map(plan.resources.map((r) => [r.name, r.version]));
    if (STATE_OF_THE_WORLD_TYPES.has(state.typeUrl)) state.sent = new Map(state.lastSentNames);
    else for (const r of plan.resources) state.sent.set(r.name, r.version);
  }

  protected encode(state: SotwState, plan: Plan, nonce: string): Buffer {
    return encodeSotwResponse({ versionInfo: plan.version, typeUrl: state.typeUrl, nonce, resources: plan.resources });
  }
}

interface DeltaState extends TypeStateBase {
  /** name → version the client holds (initial_resource_versions, then what it ACKed or we sent). */
  clientHas: Map<string, string>;
  /** For undoing a NACKed response: the versions the client held before it. */
  beforeLastSent: Map<string, string | undefined>;
}

export class DeltaStream extends StreamBase<DeltaState> {
  constructor(ctx: StreamContext, sink: StreamSink, onlyType?: TypeUrl) {
    super(ctx, sink, onlyType, 'delta');
  }

  onRequest(request: DeltaDiscoveryRequestJson): void {
    const subscribe = request.resource_names_subscribe ?? [];
    const unsubscribe = request.resource_names_unsubscribe ?? [];
    const typeUrl = this.admit(request.node, request.type_url, subscribe.length + unsubscribe.length);
    if (!typeUrl) return;
    let state = this.types.get(typeUrl);
    const kind = classifyRequest(state, request.response_nonce, request.error_detail !== undefined);
    if (kind === 'stale') {
      this.ctx.metrics.ignoredRequests.inc({ reason: 'stale_nonce' });
      return;
    }
    if (!state) {
      const sub = nextDeltaSubscription(undefined, typeUrl, subscribe, unsubscribe);
      const clientHas = new Map<string, string>();
      // Reconnect: the client says what it already has, so unchanged resources are not re-sent.
      for (const [name, version] of Object.entries(request.initial_resource_versions ?? {})) {
        if (sub.wildcard || sub.names.has(name)) clientHas.set(name, version);
      }
      state = {
        typeUrl,
        sub,
        inFlight: false,
        owed: sub.wildcard ? 'all' : new Set(sub.names),
        rejected: new Map(),
        record: this.newRecord(typeUrl),
        clientHas,
        beforeLastSent: new Map(),
      };
      this.types.set(typeUrl, state);
    } else {
      if (kind === 'ack') this.recordAck(state);
      else if (kind === 'nack') {
        this.recordNack(state, request.error_detail?.message ?? '(no message)');
        for (const [name, before] of state.beforeLastSent) {
          const sentVersion = state.clientHas.get(name);
          if (sentVersion !== undefined) state.rejected.set(name, sentVersion);
          if (before === undefined) state.clientHas.delete(name);
          else state.clientHas.set(name, before);
        }
      }
      const previous = state.sub;
      state.sub = nextDeltaSubscription(previous, typeUrl, subscribe, unsubscribe);
      const owed = state.owed === 'all' ? undefined : state.owed;
      if (state.sub.wildcard && !previous.wildcard) state.owed = 'all';
      for (const name of subscribe) if (name !== '*') owed?.add(name);
      // Unsubscribed names are simply forgotten: no removal is sent for them.
      for (const name of unsubscribe) state.clientHas.delete(name);
      if (!state.sub.wildcard) for (const name of [...state.clientHas.keys()]) if (!state.sub.names.has(name)) state.clientHas.delete(name);
    }
    this.pump(true);
  }

  protected plan(state: DeltaState): Plan | undefined {
    const desired = this.desired(state);
    const changed = [...desired.values()].filter((r) => state.clientHas.get(r.name) !== r.version && state.rejected.get(r.name) !== r.version);
    // Only what the client holds, or asked for by name, is ever reported removed: no
    // phantom removals (go-control-plane PR #488).
    const removed = [...state.clientHas.keys()].filter((name) => !desired.has(name));
    if (state.owed !== 'all') for (const name of state.owed) if (!desired.has(name) && !removed.includes(name)) removed.push(name);
    if (changed.length === 0 && removed.length === 0) {
      state.owed = new Set();
      // A reconnecting client that already holds every current version is in sync
      // although nothing is sent: record that, so the admin API does not say NOT_SENT.
      if (state.record.sentVersion === undefined && state.clientHas.size > 0) {
        const held = setVersion([...state.clientHas].map(([name, version]) => ({ name, version })));
        state.record.sentVersion = held;
        state.record.ackedVersion = held;
      }
      return undefined;
    }
    const holding = new Map(state.clientHas);
    for (const r of changed) holding.set(r.name, r.version);
    for (const name of removed) holding.delete(name);
    const version = setVersion([...holding].map(([name, v]) => ({ name, version: v })));
    return { resources: changed, removed, version, onlyRemovals: changed.length === 0 };
  }

  protected applySent(state: DeltaState, plan: Plan): void {
    state.beforeLastSent = new Map();
    for (const r of plan.resources) {
      state.beforeLastSent.set(r.name, state.clientHas.get(r.name));
      state.clientHas.set(r.name, r.version);
    }
    for (const name of plan.removed) {
      state.beforeLastSent.set(name, state.clientHas.get(name));
      state.clientHas.delete(name);
    }
  }

  protected encode(state: DeltaState, plan: Plan, nonce: string): Buffer {
    return encodeDeltaResponse({ systemVersionInfo: plan.version, typeUrl: state.typeUrl, nonce, resources: plan.resources, removed: plan.removed });
  }
}
