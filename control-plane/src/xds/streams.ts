/**
 * Per-stream xDS protocol state machines for SotW and Delta. They see only requests
 * that admission (admission.ts) accepted, as decoded JSON, and hand encoded responses
 * to a `ResponseSink`; a session (session.ts) connects them to a transport, and tests
 * drive them through an in-memory one.
 *
 * Flow control: at most one unanswered response per type per stream. A change that
 * arrives meanwhile marks the type dirty and is sent when the client answers, so a
 * slow stream costs one buffered response per type, never a queue, and never holds
 * back other streams.
 *
 * Sending is a single-flight loop (`flush`): whoever wants responses out asks for a
 * flush; if one is running it is asked to go round once more, so there is never a
 * nested send and every pass sees the state the previous one left.
 *
 * Cost: work is proportional to what changed and to the request's size, linear in
 * both. A plain ACK plans nothing; a cache change marks only the types (and, for
 * endpoints, only the clusters) it touched; LDS/CDS compare precomputed set
 * versions; RDS/EDS keep an incremental digest.
 */
import {
  ADS_ADD_ORDER,
  CLUSTER,
  type DeltaDiscoveryRequestJson,
  type DiscoveryRequestJson,
  ENDPOINT,
  type EncodedResource,
  isTypeUrl,
  LISTENER,
  ROUTE,
  SECRET,
  SHORT_NAME,
  setVersion,
  type TypeUrl,
} from '@meshcp/xds-protos';
import type { ServingCache } from '../cache/serving-cache.js';
import type { CacheChange, ProxyView } from '../cache/snapshot-cache.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { ProtocolError, Status, type StreamLimits } from './admission.js';
import { type ConnectionRecord, type NackRecord, type TypeRecord, truncateText } from './connection.js';
import { HeldVersions } from './held-versions.js';
import { objectNumber } from './object-numbers.js';
import {
  classifyRequest,
  type DeltaSubscription,
  endpointsFollowClusterUpdate,
  forgetsDroppedNames,
  mayPushWhileUnanswered,
  mayResend,
  nackBlamesEveryResource,
  nextDeltaSubscription,
  nextSotwSubscription,
  pushOrder,
  rejectionStillHolds,
  reportsRemoval,
  requiresFullStateInSotw,
  type Subscription,
  staleRequestChangesSubscription,
} from './protocol.js';
import { deltaResponseBytes, sotwResponseBytes } from './response-bytes.js';
import { SharedResponses } from './shared-responses.js';

export { ProtocolError, Status } from './admission.js';

/** Where a state machine's responses go. */
export interface ResponseSink {
  send(bytes: Buffer): void;
}

/** What a state machine reads and reports to; shared by every stream of a server. */
export interface StreamDeps {
  cache: ServingCache;
  metrics: Metrics;
  log: Logger;
  limits: Pick<StreamLimits, 'maxResourceNames'>;
}

/** The admitted client a state machine serves. */
export interface StreamClient {
  streamId: number;
  view: ProxyView;
  record: ConnectionRecord;
}

/** What changed in the cache for one type since it was last planned. */
type Dirty = false | 'all' | Set<string>;

interface TypeStateBase {
  typeUrl: TypeUrl;
  sub: Subscription;
  latestNonce?: string;
  /** Nonce of the latest response the client answered: a request repeating it is no second answer (`classifyRequest`). */
  answeredNonce?: string;
  inFlight: boolean;
  /** The client opened or widened its subscription and is owed a response. */
  owed: Set<string> | 'all';
  dirty: Dirty;
  /** Names to send even though the client holds their version (`endpointsFollowClusterUpdate`). */
  resend: Set<string>;
  /**
   * Per resource, the version the client rejected (with the NACK): never re-sent
   * (`mayResend`) until the client stops holding the name. The ones that hold the client
   * back right now (`rejectionStillHolds`) are also in the admin record's `rejected`, so
   * the status shows the type NACKED while any is held back.
   */
  rejected: Map<string, NackRecord>;
  record: TypeRecord;
  /** The oldest applied source change this type has not yet sent (convergence is measured from it). */
  changeAppliedAt?: number;
  /** The source change the response in flight carries: its ACK observes convergence. */
  inFlightChangeAt?: number;
  /** The suspect the response in flight re-sends alone: it stays a suspect (and listed) until that response is answered. */
  probing?: string;
  /** The key of the last shared response this stream was sent of this type (shared-responses.ts). */
  lastSharedKey?: string;
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
  /** Time spent planning it (ms), part of the push time. */
  planMs?: number;
}

const CONFIG_TYPES: readonly TypeUrl[] = [CLUSTER, LISTENER, ROUTE];

/** Responses shared by the streams of this process that are sent the same bytes. */
export const sharedResponses = new SharedResponses();

function mergeDirty(current: Dirty, added: 'all' | Set<string>): Dirty {
  if (current === 'all' || added === 'all') return 'all';
  if (current === false) return new Set(added);
  for (const name of added) current.add(name);
  return current;
}

/** Remembers the oldest undelivered source change a type was marked dirty by. */
function noteChange(state: TypeStateBase, change: CacheChange): void {
  if (change.appliedAt !== undefined) state.changeAppliedAt ??= change.appliedAt;
}

function hasOwed(state: TypeStateBase): boolean {
  return state.owed === 'all' || state.owed.size > 0 || state.resend.size > 0;
}

/** Resources of a several-resource NACK still to be re-sent alone (`nackBlamesEveryResource`). */
function hasSuspects(state: TypeStateBase): boolean {
  return (state.record.suspects?.size ?? 0) > 0;
}

function subscribes(state: TypeStateBase, name: string): boolean {
  return state.sub.wildcard || state.sub.names.has(name);
}

/**
 * EDS names of the current model as a set, built once per model: lets a stream skip
 * names the cache does not know before asking the cache, so a request naming 50,000
 * bogus clusters allocates nothing in the cache.
 */
const knownEndpointNames = new WeakMap<readonly string[], ReadonlySet<string>>();
function endpointNameSet(cache: ServingCache): ReadonlySet<string> {
  const names = cache.endpointNames();
  let set = knownEndpointNames.get(names);
  if (!set) {
    set = new Set(names);
    knownEndpointNames.set(names, set);
  }
  return set;
}

abstract class StateMachine<S extends TypeStateBase> {
  protected readonly types = new Map<TypeUrl, S>();
  private nonceCounter = 0;
  private closed = false;
  /** Single-flight send loop: set while a flush runs; `again` asks it to go round once more. */
  private flushing = false;
  private again = false;
  private requestDriven = false;

  constructor(
    protected readonly deps: StreamDeps,
    protected readonly client: StreamClient,
    private readonly sink: ResponseSink,
    /** The one type a standalone (non-ADS) service carries, or undefined for ADS. */
    protected readonly onlyType: TypeUrl | undefined,
    protected readonly mode: 'sotw' | 'delta',
  ) {}

  close(): void {
    this.closed = true;
  }

  private nextNonce(): string {
    return `${this.client.streamId}-${++this.nonceCounter}`;
  }

  /** The request's type, checked against the service; undefined for types we do not serve. */
  protected typeOf(typeUrlText: string | undefined): TypeUrl | undefined {
    const typeUrl = typeUrlText || this.onlyType;
    if (!typeUrl) throw new ProtocolError(Status.INVALID_ARGUMENT, 'type_url is required on ADS streams');
    if (this.onlyType && typeUrl !== this.onlyType) {
      throw new ProtocolError(Status.INVALID_ARGUMENT, `this service serves ${this.onlyType}, not ${typeUrl.slice(0, 200)}`);
    }
    if (!isTypeUrl(typeUrl)) {
      // Clients may ask for types we do not serve (secrets, runtime): no answer, just count it.
      this.deps.metrics.ignoredRequests.inc({ reason: 'unknown_type' });
      this.deps.log.debug('ignoring request for a type meshcp does not serve', { type: typeUrl.slice(0, 200), proxy: this.client.record.nodeId });
      return undefined;
    }
    return typeUrl;
  }

  /** A subscription may not grow past the per-request limit by adding names request after request. */
  protected checkSubscriptionSize(sub: Subscription): void {
    if (sub.names.size > this.deps.limits.maxResourceNames) {
      this.deps.metrics.ignoredRequests.inc({ reason: 'too_many_names' });
      throw new ProtocolError(
        Status.RESOURCE_EXHAUSTED,
        `stream subscribes to ${sub.names.size} resources of one type; the limit is ${this.deps.limits.maxResourceNames}`,
      );
    }
  }

  protected newRecord(typeUrl: TypeUrl): TypeRecord {
    const record: TypeRecord = { waiting: false, lastResponseNacked: false };
    this.client.record.types.set(typeUrl, record);
    return record;
  }

  /** `receivedAt`: when the ACK came off the wire; convergence ends there, not after the ACK waited to be handled. */
  protected recordAck(state: S, receivedAt: number): void {
    this.endProbe(state);
    state.inFlight = false;
    state.answeredNonce = state.latestNonce;
    state.record.ackedVersion = state.record.sentVersion;
    state.record.lastResponseNacked = false;
    this.deps.metrics.acks.inc({ type: SHORT_NAME[state.typeUrl] });
    if (state.inFlightChangeAt !== undefined) {
      this.deps.metrics.observeConvergence(SHORT_NAME[state.typeUrl], state.inFlightChangeAt, receivedAt);
      state.inFlightChangeAt = undefined;
    }
  }

  protected recordNack(state: S, message: string): NackRecord {
    this.endProbe(state);
    state.inFlight = false;
    state.answeredNonce = state.latestNonce;
    const version = state.record.sentVersion ?? '';
    // The client chooses this text: it is cut before it reaches the log or the admin record.
    const error = truncateText(message);
    const nack = { version, error, at: new Date().toISOString() };
    state.record.lastNack = nack;
    state.record.lastResponseNacked = true;
    // Not converged: the change counts again when a later response carrying it is ACKed.
    state.changeAppliedAt ??= state.inFlightChangeAt;
    state.inFlightChangeAt = undefined;
    this.deps.metrics.nacks.inc({ type: SHORT_NAME[state.typeUrl], proxy_version: this.client.record.version });
    this.deps.log.warn('proxy rejected a response (NACK)', { proxy: this.client.record.nodeId, type: SHORT_NAME[state.typeUrl], version, error });
    return nack;
  }

  /**
   * Remembers the resources of a NACKed response the client still subscribes to, each at
   * the version it rejected; one it dropped since holds nothing to keep back.
   */
  protected rememberRejected(state: S, rejected: ReadonlyMap<string, string>, nack: NackRecord): void {
    for (const [name, version] of rejected) {
      if (!state.sub.wildcard && !state.sub.names.has(name)) continue;
      const rejection = { version, error: nack.error, at: nack.at };
      state.rejected.set(name, rejection);
      // Made on the first NACK: a stream that never rejects anything carries no map.
      state.record.rejected ??= new Map();
      state.record.rejected.set(name, rejection);
    }
  }

  /**
   * What a NACK of the last response (`sent`: name → version, from `held.undo()`) tells:
   * every resource rejected when the client takes such a response whole or it carried one;
   * otherwise only that one of them is bad, not which, so each becomes a suspect, re-sent
   * alone (`nextProbe`) until its own answer says whether the client takes it.
   */
  protected noteNacked(state: S, sent: ReadonlyMap<string, string>, nack: NackRecord): void {
    if (nackBlamesEveryResource(this.mode, state.typeUrl, sent.size)) {
      this.rememberRejected(state, sent, nack);
      return;
    }
    for (const [name, version] of sent) {
      if (!subscribes(state, name)) continue;
      state.record.suspects ??= new Map();
      state.record.suspects.set(name, { version, error: nack.error, at: nack.at });
    }
  }

  /** Whether `name` at `version` waits to be re-sent alone as a suspect: it is left out of other responses. */
  protected awaitsProbe(state: S, name: string, version: string): boolean {
    return state.record.suspects?.get(name)?.version === version;
  }

  /**
   * The suspect to re-send alone next, asked for only when nothing else of the type is due
   * (so suspects never hold back a change); forgets suspects there is nothing to send for
   * (unsubscribed, gone from the cache, or now at a version the client rejected).
   */
  protected nextProbe(state: S): EncodedResource | undefined {
    const suspects = state.record.suspects;
    if (!suspects?.size) return undefined;
    for (const name of suspects.keys()) {
      if (name === state.probing) continue;
      const resource = subscribes(state, name) ? this.lookup(state.typeUrl, name) : undefined;
      if (resource && mayResend(state.rejected.get(name)?.version, resource.version)) return resource;
      suspects.delete(name);
    }
    return undefined;
  }

  /**
   * A suspect sent alone at its version is being re-sent (`probing`): it stays a suspect
   * until the answer, which clears it (ACK) or rejects it (NACK). Sent in any other
   * response (a newer version, or with others), it is no suspect any more: that
   * response's own answer counts (a several-resource NACK makes it one again).
   */
  protected noteSentSuspects(state: S, sent: readonly EncodedResource[]): void {
    const suspects = state.record.suspects;
    if (!suspects?.size) return;
    const only = sent.length === 1 ? sent[0] : undefined;
    if (only && suspects.get(only.name)?.version === only.version) state.probing = only.name;
    else for (const resource of sent) suspects.delete(resource.name);
  }

  /** The re-send in flight was answered: its suspect is settled (an ACK clears it; a NACK of one resource rejects it). */
  private endProbe(state: S): void {
    if (state.probing === undefined) return;
    state.record.suspects?.delete(state.probing);
    state.probing = undefined;
  }

  /** The client stops holding `name` (unsubscribed, dropped, removed): asked for again, it gets the current version, rejected or not. */
  protected forgetRejection(state: S, name: string): void {
    state.record.suspects?.delete(name);
    if (state.rejected.size === 0) return;
    state.rejected.delete(name);
    state.record.rejected?.delete(name);
  }

  /**
   * On a whole-type check, forgets rejections of names the cache no longer has: a
   * wildcard's vanished names are not among the candidates, and the client holds nothing
   * of a new resource it rejected, so no removal would ever end them.
   */
  protected forgetVanishedRejections(state: S): void {
    const heldBack = state.record.rejected;
    if (!heldBack?.size || (state.owed !== 'all' && state.dirty !== 'all')) return;
    const known = this.knownNames(state.typeUrl);
    if (known) for (const name of [...heldBack.keys()]) if (!known.has(name)) heldBack.delete(name);
  }

  /**
   * The rejection of `name`, if any; the admin record lists it as held back exactly
   * while it holds the client back (`rejectionStillHolds`): not while the resource is
   * gone or back at the version the client holds, again if it returns to the rejected one.
   */
  protected rejectionOf(state: S, name: string, current: EncodedResource | undefined, held: string | undefined): NackRecord | undefined {
    if (state.rejected.size === 0) return undefined;
    const rejection = state.rejected.get(name);
    if (rejection && rejectionStillHolds(rejection.version, current?.version, held)) {
      state.record.rejected ??= new Map();
      state.record.rejected.set(name, rejection);
    } else if (rejection) state.record.rejected?.delete(name);
    return rejection;
  }

  /** Called by the server when the cache changed; marks only what the change touched. */
  onCacheChange(change: CacheChange): void {
    let touched = false;
    if (change.config) {
      for (const typeUrl of CONFIG_TYPES) {
        const state = this.types.get(typeUrl);
        if (state) {
          state.dirty = 'all';
          noteChange(state, change);
          touched = true;
        }
      }
    }
    const secrets = this.types.get(SECRET);
    if (secrets && this.client.view.identityKey && change.identities?.has(this.client.view.identityKey)) {
      secrets.dirty = 'all';
      noteChange(secrets, change);
      touched = true;
    }
    const endpoints = this.types.get(ENDPOINT);
    if (endpoints && change.clusters.size > 0) {
      const hit = new Set<string>();
      for (const cluster of change.clusters) if (endpoints.sub.wildcard || endpoints.sub.names.has(cluster)) hit.add(cluster);
      if (hit.size > 0) {
        endpoints.dirty = mergeDirty(endpoints.dirty, hit);
        noteChange(endpoints, change);
        touched = true;
      }
    }
    if (touched) this.flush(false);
  }

  /**
   * Sends what is owed or changed. `requestDriven` responses answer a subscription
   * the client just opened and go out at once; change-driven pushes follow the ADS
   * order and wait while an earlier type has a response unanswered.
   */
  protected flush(requestDriven: boolean): void {
    this.requestDriven ||= requestDriven;
    if (this.flushing) {
      this.again = true;
      return;
    }
    this.flushing = true;
    try {
      do {
        this.again = false;
        const driven = this.requestDriven;
        this.requestDriven = false;
        this.sendDue(driven);
      } while (this.again && !this.closed);
    } finally {
      this.flushing = false;
    }
  }

  /** One pass of the send loop. */
  private sendDue(requestDriven: boolean): void {
    if (this.closed || !this.deps.cache.isReadyFor(this.client.view)) return;
    const plans = new Map<TypeUrl, Plan>();
    for (const state of this.types.values()) {
      const pending = state.dirty !== false || hasOwed(state) || hasSuspects(state);
      state.record.waiting = state.inFlight && pending;
      if (!pending || state.inFlight) continue;
      const planStarted = performance.now();
      const plan = this.plan(state);
      if (plan) {
        plan.planMs = performance.now() - planStarted;
        plans.set(state.typeUrl, plan);
      } else {
        state.changeAppliedAt = undefined; // the client already holds what the change made
        state.dirty = false;
        state.owed = new Set();
        state.resend = new Set();
      }
    }
    if (plans.size === 0) return;
    let onlyRemovals = true;
    for (const plan of plans.values()) onlyRemovals &&= plan.onlyRemovals;
    const unanswered: TypeUrl[] = [];
    for (const typeUrl of pushOrder(ADS_ADD_ORDER, onlyRemovals)) {
      const state = this.types.get(typeUrl);
      if (!state) continue;
      const blocked = unanswered.some((earlier) => !mayPushWhileUnanswered(typeUrl, earlier));
      const plan = plans.get(typeUrl);
      if (plan && (!blocked || (requestDriven && hasOwed(state)))) this.send(state, plan);
      else if (plan) state.record.waiting = true; // stays dirty: planned again after the ACK
      if (state.inFlight) unanswered.push(typeUrl);
    }
  }

  private send(state: S, plan: Plan): void {
    const started = performance.now();
    state.inFlightChangeAt = state.changeAppliedAt;
    state.changeAppliedAt = undefined;
    state.inFlight = true;
    state.owed = new Set();
    state.dirty = false;
    state.resend = new Set();
    state.record.waiting = false;
    const version = this.applySent(state, plan);
    if (endpointsFollowClusterUpdate(state.typeUrl)) this.resendEndpointsOf(plan.updated ?? []);
    state.record.sentVersion = version;
    // The same shared key twice on one stream (a full set re-sent after a subscription change) is sent privately:
    // a stream's nonces of one type never repeat.
    const key = this.shareKey(state, plan, version);
    const shareable = key !== undefined && key !== state.lastSharedKey;
    const encode = (nonce: string) => this.encode(state, plan, version, nonce);
    const shared = shareable ? sharedResponses.get(`${this.mode}|${state.typeUrl}|${key}`, state.latestNonce, encode) : undefined;
    if (shared) state.lastSharedKey = key;
    if (shared?.reused) this.deps.metrics.sharedResponses.inc({ type: SHORT_NAME[state.typeUrl] });
    const nonce = shared?.nonce ?? this.nextNonce();
    state.latestNonce = nonce;
    this.sink.send(shared?.bytes ?? encode(nonce));
    this.deps.metrics.responses.inc({ type: SHORT_NAME[state.typeUrl], mode: this.mode });
    this.deps.metrics.pushSeconds.observe({ type: SHORT_NAME[state.typeUrl] }, (performance.now() - started + (plan.planMs ?? 0)) / 1000);
  }

  /** Clusters a response changed (not added): their endpoints follow, in the next pass of the loop. */
  private resendEndpointsOf(updatedClusters: readonly string[]): void {
    const endpoints = this.types.get(ENDPOINT);
    if (!endpoints) return;
    for (const name of updatedClusters) {
      if (endpoints.sub.wildcard || endpoints.sub.names.has(name)) {
        endpoints.resend.add(name);
        this.again = true;
      }
    }
  }

  /** Name → version of what the client holds of a type if it accepts what was sent (CSDS). */
  resourcesHeld(typeUrl: TypeUrl): [string, string][] {
    const state = this.types.get(typeUrl);
    return state ? [...this.held(state)] : [];
  }

  protected abstract held(state: S): Iterable<[string, string]>;
  /**
   * Decides what to send for one type; undefined when nothing. It changes no state but
   * forgetting rejections that no longer hold (`rejectionOf`) and suspects there is
   * nothing to send for (`nextProbe`). A suspect goes alone, only when nothing else is due.
   */
  protected abstract plan(state: S): Plan | undefined;
  /** Records what the client holds once it accepts the response; returns its version. */
  protected abstract applySent(state: S, plan: Plan): string;
  protected abstract encode(state: S, plan: Plan, version: string, nonce: string): Buffer;
  /**
   * What exactly determines the response just applied, when streams share it (then its
   * bytes and nonce are shared: shared-responses.ts); undefined for a response of this
   * stream's own making.
   */
  protected abstract shareKey(state: S, plan: Plan, version: string): string | undefined;

  /**
   * Names worth looking at for a named-resource plan: everything subscribed when the
   * whole type is dirty or owed, else just the dirty and owed names.
   */
  protected candidates(state: S): Iterable<string> {
    const everything = (): Iterable<string> => {
      if (!state.sub.wildcard) return state.sub.names;
      return state.typeUrl === ENDPOINT ? this.deps.cache.endpointNames() : this.deps.cache.resourceSet(this.client.view, state.typeUrl).map.keys();
    };
    if (state.owed === 'all' || state.dirty === 'all') return everything();
    const names = new Set<string>(state.owed);
    for (const name of state.resend) names.add(name);
    if (state.dirty) for (const name of state.dirty) if (state.sub.wildcard || state.sub.names.has(name)) names.add(name);
    return names;
  }

  /** Every name the cache has of a type for this client, once it is ready; undefined before. */
  protected knownNames(typeUrl: TypeUrl): { has(name: string): boolean } | undefined {
    if (!this.deps.cache.isReadyFor(this.client.view)) return undefined;
    return typeUrl === ENDPOINT ? endpointNameSet(this.deps.cache) : this.deps.cache.resourceSet(this.client.view, typeUrl).map;
  }

  /** The cache's resource, without asking the cache about EDS names it does not know. */
  protected lookup(typeUrl: TypeUrl, name: string): EncodedResource | undefined {
    if (typeUrl === ENDPOINT && !endpointNameSet(this.deps.cache).has(name)) return undefined;
    return this.deps.cache.resource(this.client.view, typeUrl, name);
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

/**
 * Whether a SotW request names exactly the subscribed set. Envoy repeats its list in the
 * same order on every ACK, so the common case is one pass of string compares; in another
 * order the names must also be distinct, or [a, a] would pass for {a, b}.
 */
function sameNames(names: readonly string[], subscribed: Subscription['names']): boolean {
  if (names.length !== subscribed.size) return false;
  let index = 0;
  let inOrder = true;
  for (const name of subscribed) {
    if (names[index++] !== name) {
      inOrder = false;
      break;
    }
  }
  if (inOrder) return true;
  return names.every((name) => subscribed.has(name)) && new Set(names).size === names.length;
}

export class SotwStream extends StateMachine<SotwState> {
  constructor(deps: StreamDeps, client: StreamClient, sink: ResponseSink, onlyType?: TypeUrl) {
    super(deps, client, sink, onlyType, 'sotw');
  }

  /** Handles one admitted request (read off the wire at `receivedAt`); throws ProtocolError to end the stream. */
  onRequest(request: DiscoveryRequestJson, receivedAt = performance.now()): void {
    const typeUrl = this.typeOf(request.type_url);
    if (!typeUrl) return;
    const names = request.resource_names ?? [];
    let state = this.types.get(typeUrl);
    const kind = classifyRequest(state, request.response_nonce, request.error_detail !== undefined);
    if (kind === 'stale') {
      this.deps.metrics.ignoredRequests.inc({ reason: 'stale_nonce' });
      return;
    }
    if (!state) {
      const sub = nextSotwSubscription(undefined, typeUrl, names);
      this.checkSubscriptionSize(sub);
      state = {
        typeUrl,
        sub,
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
      if (kind === 'ack') {
        this.recordAck(state, receivedAt);
        state.held.commit(); // the last response can no longer be undone: its log goes
      } else if (kind === 'nack') this.undoLastSent(state, request.error_detail?.message ?? '(no message)');
      this.resubscribe(state, names);
    }
    this.flush(true);
  }

  private undoLastSent(state: SotwState, message: string): void {
    const nack = this.recordNack(state, message);
    if (requiresFullStateInSotw(state.typeUrl)) {
      state.rejectedSetVersion = state.record.sentVersion;
      state.sentSet = state.previousSet;
      return;
    }
    this.noteNacked(state, state.held.undo(), nack);
  }

  private resubscribe(state: SotwState, names: readonly string[]): void {
    const previous = state.sub;
    // Envoy repeats the full name list on every ACK: skip the common unchanged case cheaply.
    if (!previous.wildcard && sameNames(names, previous.names)) return;
    const sub = nextSotwSubscription(previous, state.typeUrl, names);
    this.checkSubscriptionSize(sub);
    state.sub = sub;
    if (sub.wildcard && !previous.wildcard) state.owed = 'all';
    const owed = state.owed;
    if (owed !== 'all') for (const name of sub.names) if (!previous.names.has(name)) owed.add(name);
    if (owed !== 'all') for (const name of owed) if (!sub.wildcard && !sub.names.has(name)) owed.delete(name);
    // A full-state type answers any change of its subscription, a shrink included.
    if (requiresFullStateInSotw(state.typeUrl)) state.dirty = 'all';
    if (!sub.wildcard && forgetsDroppedNames(state.typeUrl)) {
      for (const name of [...state.held.names()]) if (!sub.names.has(name)) state.held.forget(name);
      // A dropped name is no longer held: asked for again, it gets the current version, rejected or not.
      for (const name of [...state.rejected.keys(), ...(state.record.suspects?.keys() ?? [])]) if (!sub.names.has(name)) this.forgetRejection(state, name);
    }
  }

  protected plan(state: SotwState): Plan | undefined {
    const view = this.client.view;
    if (requiresFullStateInSotw(state.typeUrl)) {
      const full = this.deps.cache.resourceSet(view, state.typeUrl);
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
      if (!hasOwed(state) && (version === state.record.sentVersion || !mayResend(state.rejectedSetVersion, version))) return undefined;
      const before = state.sentSet;
      const updated: string[] = [];
      if (before) for (const r of set.values()) if (before.has(r.name) && before.get(r.name)?.version !== r.version) updated.push(r.name);
      let onlyRemovals = before !== undefined && set.size < before.size && updated.length === 0;
      if (onlyRemovals && before) for (const r of set.values()) onlyRemovals &&= before.has(r.name);
      return { resources: set.values(), removed: [], version, fullSet: set, updated, onlyRemovals };
    }
    const changed: EncodedResource[] = [];
    this.forgetVanishedRejections(state);
    for (const name of this.candidates(state)) {
      const resource = this.lookup(state.typeUrl, name);
      const held = state.held.get(name);
      const rejection = this.rejectionOf(state, name, resource, held);
      if (!resource || !mayResend(rejection?.version, resource.version) || this.awaitsProbe(state, name, resource.version)) continue;
      if (this.isOwed(state, name) || held !== resource.version) changed.push(resource);
    }
    const probe = changed.length === 0 ? this.nextProbe(state) : undefined;
    if (probe) changed.push(probe);
    return changed.length > 0 ? { resources: changed, removed: [], onlyRemovals: false } : undefined;
  }

  protected *held(state: SotwState): Iterable<[string, string]> {
    if (!requiresFullStateInSotw(state.typeUrl)) yield* state.held.entries();
    else for (const resource of state.sentSet?.values() ?? []) yield [resource.name, resource.version];
  }

  protected applySent(state: SotwState, plan: Plan): string {
    if (plan.fullSet && plan.version) {
      state.previousSet = state.sentSet;
      state.sentSet = plan.fullSet;
      return plan.version;
    }
    const sent = Array.isArray(plan.resources) ? (plan.resources as EncodedResource[]) : [...plan.resources];
    this.noteSentSuspects(state, sent);
    return state.held.apply(sent);
  }

  protected shareKey(state: SotwState, plan: Plan, version: string): string | undefined {
    // A full-state response of a wildcard subscription is the cache's own set; a named one is this stream's selection.
    if (plan.fullSet) return state.sub.wildcard ? `set${objectNumber(plan.fullSet)}|${version}` : undefined;
    return state.held.transition;
  }

  protected encode(state: SotwState, plan: Plan, version: string, nonce: string): Buffer {
    return sotwResponseBytes({ versionInfo: version, typeUrl: state.typeUrl, nonce, resources: plan.resources });
  }
}

interface DeltaState extends TypeStateBase {
  sub: DeltaSubscription;
  /** What the client holds: initial_resource_versions, then what we sent. */
  held: HeldVersions;
  /**
   * Names a reconnecting client claimed that the cache did not have: reported
   * removed in the first response, without ever entering `held` (a claim of
   * 50,000 unknown names costs a list, not a digest update per name).
   */
  missingClaims?: string[];
}

export class DeltaStream extends StateMachine<DeltaState> {
  constructor(deps: StreamDeps, client: StreamClient, sink: ResponseSink, onlyType?: TypeUrl) {
    super(deps, client, sink, onlyType, 'delta');
  }

  /** Handles one admitted request (read off the wire at `receivedAt`); throws ProtocolError to end the stream. */
  onRequest(request: DeltaDiscoveryRequestJson, receivedAt = performance.now()): void {
    const typeUrl = this.typeOf(request.type_url);
    if (!typeUrl) return;
    const subscribe = request.resource_names_subscribe ?? [];
    const unsubscribe = request.resource_names_unsubscribe ?? [];
    let state = this.types.get(typeUrl);
    let kind = classifyRequest(state, request.response_nonce, request.error_detail !== undefined);
    if (kind === 'stale') {
      this.deps.metrics.ignoredRequests.inc({ reason: 'stale_nonce' });
      if (!staleRequestChangesSubscription('delta') || (subscribe.length === 0 && unsubscribe.length === 0)) return;
      kind = 'update';
    }
    if (!state) {
      const sub = nextDeltaSubscription(undefined, typeUrl, subscribe, unsubscribe);
      this.checkSubscriptionSize(sub);
      const held = new HeldVersions();
      const missingClaims: string[] = [];
      // Reconnect: the client says what it already has, so unchanged resources are not re-sent.
      const initial = request.initial_resource_versions;
      if (initial) {
        const known = this.knownNames(typeUrl);
        for (const name in initial) {
          if (!sub.wildcard && !sub.names.has(name)) continue;
          if (known && !known.has(name)) missingClaims.push(name);
          else held.hold(name, String(initial[name]));
        }
      }
      // Everything subscribed is owed; what it holds is a subset (claims outside the subscription were skipped above).
      state = { typeUrl, sub, inFlight: false, owed: 'all', dirty: false, resend: new Set(), rejected: new Map(), record: this.newRecord(typeUrl), held };
      if (missingClaims.length > 0) state.missingClaims = missingClaims;
      this.types.set(typeUrl, state);
    } else {
      if (kind === 'ack') {
        this.recordAck(state, receivedAt);
        state.held.commit(); // the last response can no longer be undone: its log goes
      } else if (kind === 'nack') this.undoLastSent(state, request.error_detail?.message ?? '(no message)');
      if (subscribe.length > 0 || unsubscribe.length > 0) this.resubscribe(state, subscribe, unsubscribe);
    }
    this.flush(true);
  }

  private resubscribe(state: DeltaState, subscribe: readonly string[], unsubscribe: readonly string[]): void {
    const wasWildcard = state.sub.wildcard;
    const sub = nextDeltaSubscription(state.sub, state.typeUrl, subscribe, unsubscribe);
    this.checkSubscriptionSize(sub);
    if (sub.wildcard && !wasWildcard) state.owed = 'all';
    const owed = state.owed;
    if (owed !== 'all') for (const name of subscribe) if (name !== '*') owed.add(name);
    // Unsubscribed names are simply forgotten: no removal is sent for them.
    let unsubscribedStar = false;
    for (const name of unsubscribe) {
      if (name === '*') unsubscribedStar = true;
      else {
        state.held.forget(name);
        this.forgetRejection(state, name);
        if (owed !== 'all') owed.delete(name);
      }
    }
    if (!sub.wildcard && unsubscribedStar) {
      for (const name of [...state.held.names()]) if (!sub.names.has(name)) state.held.forget(name);
      for (const name of [...state.rejected.keys(), ...(state.record.suspects?.keys() ?? [])]) if (!sub.names.has(name)) this.forgetRejection(state, name);
    }
  }

  private undoLastSent(state: DeltaState, message: string): void {
    const nack = this.recordNack(state, message);
    this.noteNacked(state, state.held.undo(), nack);
  }

  protected plan(state: DeltaState): Plan | undefined {
    const changed: EncodedResource[] = [];
    const removed = new Set<string>();
    this.forgetVanishedRejections(state);
    for (const name of this.candidates(state)) {
      const resource = this.lookup(state.typeUrl, name);
      const held = state.held.get(name);
      const rejection = this.rejectionOf(state, name, resource, held);
      if (!resource) {
        if (reportsRemoval(held !== undefined, this.isOwed(state, name))) removed.add(name);
        continue;
      }
      if (!mayResend(rejection?.version, resource.version) || this.awaitsProbe(state, name, resource.version)) continue;
      if (held !== resource.version || state.resend.has(name)) changed.push(resource);
    }
    // A whole-type check of a wildcard subscription (its candidates were every known name) also finds what vanished from the set.
    if (state.sub.wildcard && (state.owed === 'all' || state.dirty === 'all')) {
      const known = this.knownNames(state.typeUrl);
      if (known) for (const name of state.held.names()) if (!known.has(name)) removed.add(name);
    }
    // Claims of a reconnect that the cache did not have: the first response reports them removed (once; applySent clears them).
    for (const name of state.missingClaims ?? []) if (!this.lookup(state.typeUrl, name)) removed.add(name);
    const probe = changed.length === 0 && removed.size === 0 ? this.nextProbe(state) : undefined;
    if (probe) changed.push(probe);
    if (changed.length === 0 && removed.size === 0) {
      // A reconnecting client that already holds every current version is in sync
      // although nothing is sent: record that, so the admin API does not say NOT_SENT.
      if (state.record.sentVersion === undefined && state.held.size > 0) {
        state.record.sentVersion = state.held.version();
        state.record.ackedVersion = state.record.sentVersion;
      }
      return undefined;
    }
    const updated = changed.filter((r) => state.held.has(r.name)).map((r) => r.name);
    return { resources: changed, removed: [...removed], updated, onlyRemovals: changed.length === 0 };
  }

  protected held(state: DeltaState): Iterable<[string, string]> {
    return state.held.entries();
  }

  protected applySent(state: DeltaState, plan: Plan): string {
    state.missingClaims = undefined;
    // Removed: the client holds nothing of it any more.
    for (const name of plan.removed) this.forgetRejection(state, name);
    const sent = Array.isArray(plan.resources) ? (plan.resources as EncodedResource[]) : [...plan.resources];
    this.noteSentSuspects(state, sent);
    return state.held.apply(sent, plan.removed);
  }

  protected shareKey(state: DeltaState): string | undefined {
    return state.held.transition;
  }

  protected encode(state: DeltaState, plan: Plan, version: string, nonce: string): Buffer {
    return deltaResponseBytes({ systemVersionInfo: version, typeUrl: state.typeUrl, nonce, resources: plan.resources, removed: plan.removed });
  }
}

export type AnyStateMachine = SotwStream | DeltaStream;
