/**
 * The xDS protocol decisions, in one place and free of I/O, so they can be tested
 * directly as well as through a real gRPC client. Each rule is a named function
 * with the section of the xDS protocol document it implements
 * (https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol, cited as
 * `xds_protocol#anchor`) and, where a peer got it wrong, the issue that shows it.
 * Every issue number here was checked to be the issue it describes.
 */
import { CLUSTER, ENDPOINT, LISTENER, type TypeUrl } from '@meshcp/xds-protos';
import { DeltaNames, internNames, type NameSet } from './subscribed-names.js';

/** What one request on a stream means for one resource type. */
export type RequestKind =
  /** First request for this type on this stream: opens the subscription. */
  | 'initial'
  /** Answers our latest response and accepts it. */
  | 'ack'
  /** Answers our latest response and rejects it (`error_detail` set). */
  | 'nack'
  /** Answers a response older than our latest (see `isStaleNonce`). */
  | 'stale'
  /**
   * A request without nonce after the first one, or carrying the nonce of a response
   * already answered: a subscription change, never an ACK.
   */
  | 'update';

export interface TypeProgress {
  /** Nonce of the latest response we sent for this type, if any. */
  latestNonce?: string;
  /** Nonce of the latest response the client ACKed or NACKed. */
  answeredNonce?: string;
}

/**
 * xds_protocol#resource-updates: "A nonce becomes stale following a newer nonce
 * being presented to Envoy in a DiscoveryResponse", and the server should not send
 * a response for a request with a stale nonce — the client will answer the newer
 * response anyway. Answering them pushes twice (Contour #1187, "xDS stale nonce is
 * ignored").
 */
export function isStaleNonce(progress: TypeProgress, responseNonce: string): boolean {
  return responseNonce !== progress.latestNonce;
}

/**
 * xds_protocol#xds-ack-nack: a request carrying the nonce of our latest response
 * ACKs it, or NACKs it when `error_detail` is set (the presence of error_detail is
 * what marks a NACK, not the version: envoyproxy/envoy PR #14841).
 *
 * Only the first answer to a nonce counts. After a NACK Envoy clears error_detail but
 * keeps response_nonce (GrpcMuxImpl::sendDiscoveryRequest), so its next request for
 * the type — an EDS subscription change, say — carries the rejected response's nonce
 * without error_detail: that is not an ACK of what it rejected.
 */
export function classifyRequest(progress: TypeProgress | undefined, responseNonce: string | undefined, hasError: boolean): RequestKind {
  if (!progress) return 'initial';
  if (!responseNonce) return 'update';
  if (isStaleNonce(progress, responseNonce)) return 'stale';
  if (responseNonce === progress.answeredNonce) return 'update';
  return hasError ? 'nack' : 'ack';
}

/**
 * Delta (xds_protocol#incremental-xds): "the server must honor changes to the
 * subscription state even if the nonce is stale" (envoyproxy/envoy PR #16659) —
 * subscribe/unsubscribe are changes, not a restatement. A SotW request restates its
 * whole list on the next ACK, so a stale one is dropped entirely.
 */
export function staleRequestChangesSubscription(mode: 'sotw' | 'delta'): boolean {
  return mode === 'delta';
}

/**
 * xds_protocol#grouping-resources-into-responses: in SotW, Listener and Cluster
 * responses carry every resource the client subscribes to, and omission means
 * removal; RDS/EDS responses may carry only what changed.
 */
export function requiresFullStateInSotw(typeUrl: string): boolean {
  return typeUrl === LISTENER || typeUrl === CLUSTER;
}

/**
 * xds_protocol#how-the-client-specifies-what-resources-to-return: only Listener and
 * Cluster support the legacy "no names on the first request means everything" form.
 */
export function allowsLegacyWildcard(typeUrl: string): boolean {
  return typeUrl === LISTENER || typeUrl === CLUSTER;
}

export interface Subscription {
  wildcard: boolean;
  /** Wildcard entered by the legacy form (empty names on the first request). */
  legacyWildcard: boolean;
  /** SotW: one interned set per distinct list (each request replaces it); Delta: `DeltaNames`. */
  names: NameSet;
}

export interface DeltaSubscription extends Subscription {
  names: DeltaNames;
}

/**
 * SotW subscription after a request (xds_protocol#how-the-client-specifies-what-resources-to-return):
 * '*' subscribes to everything; empty names on the first LDS/CDS request is the
 * legacy wildcard, which later empty requests keep; otherwise the list replaces the
 * previous one. Linear in the request's names.
 */
export function nextSotwSubscription(previous: Subscription | undefined, typeUrl: string, requested: readonly string[]): Subscription {
  const names = new Set<string>();
  let star = false;
  for (const name of requested) {
    if (name === '*') star = true;
    else names.add(name);
  }
  if (star) return { wildcard: true, legacyWildcard: false, names: internNames(names) };
  if (requested.length === 0 && allowsLegacyWildcard(typeUrl) && (!previous || previous.legacyWildcard)) {
    return { wildcard: true, legacyWildcard: true, names };
  }
  return { wildcard: false, legacyWildcard: false, names: internNames(names) };
}

/**
 * Delta subscription after a request (xds_protocol#incremental-xds): subscribe and
 * unsubscribe change the set; '*' toggles wildcard; an LDS/CDS stream whose first
 * request subscribes to nothing is wildcard (legacy) until it names resources.
 * Linear in the request's names; `previous` is updated in place when given, so an
 * ACK on a stream subscribed to 50,000 names costs nothing.
 */
export function nextDeltaSubscription(
  previous: DeltaSubscription | undefined,
  typeUrl: string,
  subscribe: readonly string[],
  unsubscribe: readonly string[],
): DeltaSubscription {
  const sub: DeltaSubscription = previous ?? { wildcard: false, legacyWildcard: false, names: new DeltaNames() };
  if (!previous && subscribe.length === 0 && allowsLegacyWildcard(typeUrl)) {
    sub.wildcard = true;
    sub.legacyWildcard = true;
  }
  let star = false;
  let named = false;
  for (const name of subscribe) {
    if (name === '*') star = true;
    else {
      named = true;
      sub.names.add(name);
    }
  }
  if (star) sub.wildcard = true;
  if (named && sub.legacyWildcard) {
    sub.wildcard = star;
    sub.legacyWildcard = false;
  }
  for (const name of unsubscribe) {
    if (name === '*') {
      sub.wildcard = false;
      sub.legacyWildcard = false;
    } else sub.names.delete(name);
  }
  sub.names.settle();
  return sub;
}

/**
 * xds_protocol#eventual-consistency-considerations: additions make before break
 * (CDS → EDS → LDS → RDS, so no route points at a cluster Envoy does not know);
 * pure removals break in reverse. go-control-plane #526 ("send EDS before CDS, CDS
 * will not resubscribe") is what happens otherwise.
 */
export function pushOrder<T extends string>(addOrder: readonly T[], onlyRemovals: boolean): readonly T[] {
  return onlyRemovals ? [...addOrder].reverse() : addOrder;
}

/**
 * xds_protocol#resource-warming: an updated cluster warms until its endpoints
 * arrive, and Envoy ACKs the CDS response only once warming is done — so EDS must
 * not wait for that ACK, while every other type waits for the types before it.
 */
export function mayPushWhileUnanswered(typeUrl: TypeUrl, unanswered: TypeUrl): boolean {
  return typeUrl === ENDPOINT && unanswered === CLUSTER;
}

/**
 * xds_protocol#resource-warming: a cluster that CDS updates (not adds) is re-created
 * and warms only on a fresh EDS response, even when its endpoints did not change —
 * so they are sent again (go-control-plane #245, "Trigger EDS push whenever CDS
 * changes"; without it Envoy waits out initial_fetch_timeout).
 */
export function endpointsFollowClusterUpdate(typeUrl: TypeUrl): boolean {
  return typeUrl === CLUSTER;
}

/**
 * xds_protocol#xds-ack-nack: after a NACK the client keeps its previous version;
 * sending the same rejected version again only earns the same NACK, forever
 * (go-control-plane PR #794, "Provide callback to decide if nack should be
 * retried", and issue #962, "Resource is constantly re-sent if NACKed"). A resource
 * is sent again only once its version changes — or once the client stopped holding
 * it (unsubscribed, dropped from its list, removed) and asks again: then it holds
 * nothing, and the rejection is forgotten (streams.ts `forgetRejection`).
 */
export function mayResend(rejectedVersion: string | undefined, currentVersion: string): boolean {
  return rejectedVersion !== currentVersion;
}

/**
 * Whether a NACK of a response carrying several resources may blame each of them. Not
 * when the client may have applied part of it: Envoy applies a Delta response, and a
 * SotW RDS/EDS response, resource by resource (EDS per cluster watch), so one bad
 * resource NACKs the response while the others before it were applied and the ones after
 * it were never reached. Such resources are only suspects: each is re-sent alone, and the
 * answer to that single-resource response tells which one the client refuses. A SotW
 * LDS/CDS response is one state, rejected as a whole (`rejectedSetVersion`), and a NACK
 * of a single resource blames exactly it.
 */
export function nackBlamesEveryResource(mode: 'sotw' | 'delta', typeUrl: string, resourceCount: number): boolean {
  if (resourceCount <= 1) return true;
  return mode === 'sotw' && requiresFullStateInSotw(typeUrl);
}

/**
 * A rejection holds the client back while the version we would serve is the one it
 * rejected and it keeps another (an older one, or none): the admin record lists it and
 * the type shows NACKED. Not while the resource is gone or back at the version the
 * client holds (it counts again if the rejected version returns), and not once a newer
 * version is sent (STALE until ACKed, NACKED again if rejected). The rejection itself,
 * which keeps the version from being re-sent, is forgotten only when the client stops
 * holding the name: unsubscribed, missing from a SotW list, or removed.
 */
export function rejectionStillHolds(rejectedVersion: string, currentVersion: string | undefined, heldVersion: string | undefined): boolean {
  return currentVersion !== undefined && currentVersion === rejectedVersion && heldVersion !== currentVersion;
}

/**
 * Delta removals (xds_protocol#knowing-when-a-requested-resource-does-not-exist):
 * a resource is reported in `removed_resources` only when the client holds it or
 * subscribed to it by name — a name it never asked for is never "removed" (no
 * phantom removals). Asking by name for one that does not exist gets a removal
 * (go-control-plane #565); the name stays subscribed, so it is sent if it appears.
 */
export function reportsRemoval(clientHolds: boolean, subscribedByName: boolean): boolean {
  return clientHolds || subscribedByName;
}

/**
 * SotW RDS/EDS: when the client drops a name from its list it also drops the
 * resource, so a later re-subscribe must send it again even if its version did not
 * change (go-control-plane #583, "Removing and adding a cluster will cause EDS not
 * sending to Envoy").
 */
export function forgetsDroppedNames(typeUrl: string): boolean {
  return !requiresFullStateInSotw(typeUrl);
}

/** Status of one type for one proxy, as the admin API and `meshcp status` show it. */
export type SyncStatus = 'SYNCED' | 'STALE' | 'NACKED' | 'NOT_SENT';
