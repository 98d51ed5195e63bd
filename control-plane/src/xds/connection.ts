/**
 * The admin record: what /debug/proxies, `meshcp status` and object status show per
 * connected stream. Admission creates it; the stream state machine updates its types.
 */
import { SHORT_NAME, type TypeUrl } from '@meshcp/xds-protos';
import type { SyncStatus } from './protocol.js';

export interface TypeRecord {
  sentVersion?: string;
  ackedVersion?: string;
  lastNack?: { version: string; error: string; at: string };
  /** A response is out and unanswered, or a push waits behind one. */
  waiting: boolean;
  lastResponseNacked: boolean;
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

export function statusOf(record: TypeRecord): SyncStatus {
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
