/**
 * The xDS protocol decisions, in one place and free of I/O, so they can be tested
 * directly as well as through a real gRPC client. References are to the xDS REST
 * and gRPC protocol document (envoyproxy.io, "xDS REST and gRPC protocol").
 */
import { CLUSTER, LISTENER } from '@meshcp/xds-protos';

/** What one request on a stream means for one resource type. */
export type RequestKind =
  /** First request for this type on this stream: opens the subscription. */
  | 'initial'
  /** Answers our latest response and accepts it. */
  | 'ack'
  /** Answers our latest response and rejects it (`error_detail` set). */
  | 'nack'
  /**
   * Answers a response older than our latest. Ignored: the client will answer the
   * newer one (Contour #1176 answered stale nonces and pushed twice).
   */
  | 'stale'
  /** A request without nonce after the first one: a subscription change. */
  | 'update';

export interface TypeProgress {
  /** Nonce of the latest response we sent for this type, if any. */
  latestNonce?: string;
}

export function classifyRequest(progress: TypeProgress | undefined, responseNonce: string | undefined, hasError: boolean): RequestKind {
  if (!progress) return 'initial';
  if (!responseNonce) return 'update';
  if (responseNonce !== progress.latestNonce) return 'stale';
  return hasError ? 'nack' : 'ack';
}

export interface Subscription {
  wildcard: boolean;
  /** Wildcard entered by the legacy form (empty names on the first request). */
  legacyWildcard: boolean;
  names: Set<string>;
}

/** Only Listener and Cluster support the legacy "empty names means everything" form. */
export function allowsLegacyWildcard(typeUrl: string): boolean {
  return typeUrl === LISTENER || typeUrl === CLUSTER;
}

/**
 * SotW subscription after a request (protocol doc, "How the client specifies what
 * resources to return"): '*' subscribes to everything; empty names on the first
 * LDS/CDS request is the legacy wildcard, which later empty requests keep;
 * otherwise the list replaces the previous one.
 */
export function nextSotwSubscription(previous: Subscription | undefined, typeUrl: string, requested: readonly string[]): Subscription {
  const names = new Set(requested.filter((n) => n !== '*'));
  if (requested.includes('*')) return { wildcard: true, legacyWildcard: false, names };
  if (requested.length === 0 && allowsLegacyWildcard(typeUrl) && (!previous || previous.legacyWildcard)) {
    return { wildcard: true, legacyWildcard: true, names };
  }
  return { wildcard: false, legacyWildcard: false, names };
}

/**
 * Delta subscription after a request: subscribe/unsubscribe are changes to the set;
 * '*' toggles wildcard; an LDS/CDS stream whose first request subscribes to nothing
 * is wildcard (legacy), until it names resources explicitly.
 */
export function nextDeltaSubscription(
  previous: Subscription | undefined,
  typeUrl: string,
  subscribe: readonly string[],
  unsubscribe: readonly string[],
): Subscription {
  const names = new Set(previous?.names ?? []);
  let wildcard = previous?.wildcard ?? false;
  let legacyWildcard = previous?.legacyWildcard ?? false;
  if (!previous && subscribe.length === 0 && allowsLegacyWildcard(typeUrl)) {
    wildcard = true;
    legacyWildcard = true;
  }
  for (const name of subscribe) {
    if (name === '*') wildcard = true;
    else names.add(name);
  }
  if (subscribe.some((n) => n !== '*') && legacyWildcard) {
    wildcard = subscribe.includes('*');
    legacyWildcard = false;
  }
  for (const name of unsubscribe) {
    if (name === '*') {
      wildcard = false;
      legacyWildcard = false;
    } else names.delete(name);
  }
  return { wildcard, legacyWildcard, names };
}

/**
 * Which way this push goes: additions make before break (CDS → EDS → LDS → RDS,
 * so no route points at a cluster Envoy does not know and no cluster warms without
 * its endpoints: go-control-plane #526); pure removals break in reverse.
 */
export function pushOrder<T extends string>(addOrder: readonly T[], onlyRemovals: boolean): readonly T[] {
  return onlyRemovals ? [...addOrder].reverse() : addOrder;
}

/** Status of one type for one proxy, as the admin API and `meshcp status` show it. */
export type SyncStatus = 'SYNCED' | 'STALE' | 'NACKED' | 'NOT_SENT';
