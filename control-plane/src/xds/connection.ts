/**
 * The admin record: what /debug/proxies, `meshcp status` and object status show per
 * connected stream. Admission creates it; the stream state machine updates its types.
 */
import { SHORT_NAME, type TypeUrl } from '@meshcp/xds-protos';
import type { SyncStatus } from './protocol.js';

/** A NACK as the admin record keeps it: the version rejected, the client's text (cut), when. */
export interface NackRecord {
  version: string;
  error: string;
  at: string;
}

export interface TypeRecord {
  sentVersion?: string;
  ackedVersion?: string;
  lastNack?: NackRecord;
  /** A response is out and unanswered, or a push waits behind one. */
  waiting: boolean;
  lastResponseNacked: boolean;
  /**
   * Resources the client subscribes to whose current version it rejected: name → that
   * version and the NACK. Such a resource is not re-sent, so the client keeps an older
   * version (or none) even after it ACKs later responses of the type; the type shows
   * NACKED until a newer version is ACKed or the client stops holding the name. The
   * stream state machine keeps it (streams.ts), from the type's first NACK on; types
   * rejected as a whole set (SotW LDS/CDS) have none: `lastResponseNacked` tells.
   */
  rejected?: Map<string, NackRecord>;
  /**
   * Resources of a NACKed response that carried several (SotW RDS/EDS, any Delta type),
   * not yet known good or bad: name → the version sent and that NACK. Each is re-sent
   * alone (streams.ts); its answer either clears it or makes it `rejected`. While any
   * remains the type shows NACKED: the client refused something of the type and the
   * culprit is not yet isolated, so it does not hold what we serve.
   */
  suspects?: Map<string, NackRecord>;
}

export interface ConnectionRecord {
  streamId: number;
  nodeId: string;
  clientKind: string;
  version: string;
  profile: string;
  profileWarnings: string[];
  mode: 'sotw' | 'delta';
  service: string;
  namespace: string;
  locality: string;
  /** Who the stream authenticated as (a SPIFFE ID), or 'unauthenticated' on an --insecure server. */
  identity: string;
  connectedAt: string;
  /** The node as the client sent it, without its metadata (what CSDS answers with). */
  node?: NodeSummary;
  types: Map<TypeUrl, TypeRecord>;
}

export interface NodeSummary {
  id: string;
  cluster?: string;
  user_agent_name?: string;
  user_agent_version?: string;
  user_agent_build_version?: unknown;
  locality?: unknown;
}

/**
 * A type's status: NACKED while its last response was rejected, while a resource the
 * client subscribes to is held back at an older version because the version we serve
 * was rejected, and while resources of a several-resource NACK are still being re-sent
 * one at a time to find the one refused (a later ACK of other resources does not make that
 * SYNCED: the proxy still cannot use what it was sent).
 */
export function statusOf(record: TypeRecord): SyncStatus {
  if ((record.rejected?.size ?? 0) > 0 || (record.suspects?.size ?? 0) > 0) return 'NACKED';
  return responseStatusOf(record);
}

/** The status from the last response alone, leaving out resources held back by an earlier NACK (CSDS shows those per resource). */
export function responseStatusOf(record: TypeRecord): SyncStatus {
  if (record.lastResponseNacked) return 'NACKED';
  if (record.sentVersion === undefined) return 'NOT_SENT';
  if (record.waiting || record.ackedVersion !== record.sentVersion) return 'STALE';
  return 'SYNCED';
}

export function connectionJson(record: ConnectionRecord) {
  return {
    nodeId: record.nodeId,
    streamId: record.streamId,
    clientKind: record.clientKind,
    version: record.version,
    profile: record.profile,
    profileWarnings: record.profileWarnings,
    mode: record.mode,
    service: record.service,
    namespace: record.namespace,
    locality: record.locality,
    identity: record.identity,
    connectedAt: record.connectedAt,
    types: Object.fromEntries(
      [...record.types.entries()].map(([typeUrl, t]) => [
        typeUrl,
        {
          short: SHORT_NAME[typeUrl],
          status: statusOf(t),
          sentVersion: t.sentVersion ?? null,
          ackedVersion: t.ackedVersion ?? null,
          lastNack: t.lastNack ?? null,
          // What keeps a type NACKED after later ACKs: the resources held back at an older version.
          rejectedResources: [...(t.rejected ?? [])].map(([name, nack]) => ({ name, version: nack.version, error: nack.error, at: nack.at })),
          // Resources of a several-resource NACK being re-sent one at a time to find which one the client refuses.
          suspectResources: [...(t.suspects ?? [])].map(([name, nack]) => ({ name, version: nack.version, error: nack.error, at: nack.at })),
        },
      ]),
    ),
  };
}

/** Longest NACK text kept in logs and the admin record (1 KiB): a client can send megabytes. */
export const MAX_ERROR_TEXT_CHARS = 1024;

/** Cuts client-supplied text to `maxChars` characters, saying how much was dropped. */
export function truncateText(text: string, maxChars = MAX_ERROR_TEXT_CHARS): string {
  if (text.length <= maxChars) return text;
  return `${text.slice(0, maxChars)}… (${text.length - maxChars} more characters dropped)`;
}
