/**
 * Admission: who may open a stream and how much one request may ask for. It reads
 * the node on a stream's first request, checks it and the server-wide limits, and
 * creates the admin record (connection.ts) the stream state machine then updates.
 * No protocol state lives here: the state machines (streams.ts) never see a request
 * that admission refused.
 */
import { formatVersion, localityKey, proxyFromNode } from '@meshcp/translators';
import { AuthError, checkNodeClaims, describe, IDENTITY_METADATA, type StreamIdentity } from '../auth/identity.js';
import type { ServingCache } from '../cache/serving-cache.js';
import type { ProxyView } from '../cache/snapshot-cache.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ConnectionRecord, NodeSummary } from './connection.js';

/** gRPC status codes we use. */
export const Status = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** A request that ends its stream with this gRPC status. */
export class ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** What one client may cost: every per-stream structure is bounded by one of these. */
export interface StreamLimits {
  /**
   * Names in one request list (SotW resource_names, Delta subscribe, unsubscribe or
   * initial_resource_versions) and in one type's subscription on a stream.
   */
  maxResourceNames: number;
  /**
   * Streams open at once claiming one node id, per authenticated identity: a workload
   * can neither exhaust nor join another workload's node id. Counted per process, so
   * with `--xds-workers N` a node may hold up to N × this many (one count per worker).
   */
  maxStreamsPerNode: number;
  /** A stream whose client takes no response for this long is ended. */
  writeDeadlineMs: number;
}

/**
 * Defaults. 10,000 names per list keeps the worst request (decode, plan, encode) near
 * 50 ms of one core, inside the 200 ms event-loop budget with room for a loaded host;
 * a mesh whose proxies subscribe to more clusters raises it (`--max-resource-names`).
 */
export const DEFAULT_LIMITS: StreamLimits = { maxResourceNames: 10_000, maxStreamsPerNode: 8, writeDeadlineMs: 30_000 };

/** Longest node id accepted: it is a map key, a log field and an admin-record field. */
const MAX_NODE_ID_CHARS = 1024;

/** A stream's client once admission accepted its node. */
export interface AdmittedNode {
  readonly view: ProxyView;
  readonly record: ConnectionRecord;
  /** Gives back the node's stream slot; called once when the stream ends. */
  release(): void;
}

let nextStreamId = 1;

export class Admission {
  private readonly streamsPerNode = new Map<string, number>();
  private readonly loggedRefusals = new Set<string>();

  constructor(
    private readonly cache: ServingCache,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    readonly limits: StreamLimits,
  ) {}

  /** A fresh stream id (also the nonce prefix of the stream's responses). */
  nextStreamId(): number {
    return nextStreamId++;
  }

  /**
   * Reads and checks the node of a stream's first request against the stream's
   * authenticated identity; throws ProtocolError (PERMISSION_DENIED when the node
   * claims another workload than the one that authenticated).
   */
  admit(node: unknown, mode: 'sotw' | 'delta', streamId: number, identity: StreamIdentity = { method: 'none' }): AdmittedNode {
    if (!node || typeof node !== 'object') throw new ProtocolError(Status.INVALID_ARGUMENT, 'the first request on a stream must carry node');
    const claims = node as Parameters<typeof proxyFromNode>[0];
    try {
      checkNodeClaims(identity, claims);
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      this.refused(error, identity);
      throw new ProtocolError(Status.PERMISSION_DENIED, error.message);
    }
    // A node that states no namespace is the workload that authenticated.
    const metadata = { ...(claims.metadata ?? {}) };
    if (identity.namespace && metadata[IDENTITY_METADATA.namespace] === undefined && metadata.NAMESPACE === undefined)
      metadata[IDENTITY_METADATA.namespace] = identity.namespace;
    const info = proxyFromNode({ ...claims, metadata });
    if (!info.nodeId) throw new ProtocolError(Status.INVALID_ARGUMENT, 'node.id is required');
    if (info.nodeId.length > MAX_NODE_ID_CHARS) {
      throw new ProtocolError(Status.INVALID_ARGUMENT, `node.id is ${info.nodeId.length} characters; the limit is ${MAX_NODE_ID_CHARS}`);
    }
    // Counted per identity: a node id is only a claim, and one workload's claims must not use up another's slots.
    const slot = nodeSlotKey(identity, info.nodeId);
    const open = this.streamsPerNode.get(slot) ?? 0;
    if (open >= this.limits.maxStreamsPerNode) {
      this.metrics.ignoredRequests.inc({ reason: 'node_stream_limit' });
      throw new ProtocolError(
        Status.RESOURCE_EXHAUSTED,
        `node ${JSON.stringify(info.nodeId.slice(0, 64))} already has ${open} streams open; the limit is ${this.limits.maxStreamsPerNode}`,
      );
    }
    this.streamsPerNode.set(slot, open + 1);
    const view = this.cache.viewFor(info, identityKeyOf(identity));
    const record: ConnectionRecord = {
      streamId,
      nodeId: info.nodeId,
      clientKind: info.clientKind,
      version: info.version ? formatVersion(info.version) : info.versionText.slice(0, 64) || 'unknown',
      profile: view.profile.name,
      profileWarnings: view.profile.warnings,
      mode,
      service: info.service,
      namespace: info.namespace,
      locality: localityKey(info.locality),
      identity: identity.method === 'none' ? 'unauthenticated' : describe(identity),
      connectedAt: new Date().toISOString(),
      node: nodeSummary(node as Record<string, unknown>, info.nodeId),
      types: new Map(),
    };
    for (const warning of view.profile.warnings) this.log.warn(warning, { proxy: info.nodeId });
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.cache.release(view);
      const left = (this.streamsPerNode.get(slot) ?? 1) - 1;
      if (left > 0) this.streamsPerNode.set(slot, left);
      else this.streamsPerNode.delete(slot);
    };
    return { view, record, release };
  }

  /** Counted always; logged once per identity and reason (an attacker retrying cannot flood the log). */
  refused(error: AuthError, identity: StreamIdentity): void {
    this.metrics.authFailures.inc({ reason: error.reason });
    const key = `${describe(identity)}|${error.reason}`;
    if (this.loggedRefusals.has(key)) return;
    if (this.loggedRefusals.size >= 1_000) this.loggedRefusals.clear();
    this.loggedRefusals.add(key);
    this.log.warn('xDS stream refused', { reason: error.reason, identity: describe(identity), message: error.message.slice(0, 300) });
  }

  /** One request list's length against the limit; throws RESOURCE_EXHAUSTED. */
  checkListLength(what: string, count: number): void {
    if (count > this.limits.maxResourceNames) {
      this.metrics.ignoredRequests.inc({ reason: 'too_many_names' });
      throw new ProtocolError(Status.RESOURCE_EXHAUSTED, `request names ${count} resources in ${what}; the limit is ${this.limits.maxResourceNames}`);
    }
  }

  /** Streams open for a node id under one identity (unauthenticated by default), for tests and the admin API. */
  openStreams(nodeId: string, identity: StreamIdentity = { method: 'none' }): number {
    return this.streamsPerNode.get(nodeSlotKey(identity, nodeId)) ?? 0;
  }
}

/** The node's identifying fields for CSDS: no metadata (it may carry anything a client chose to send). */
function nodeSummary(node: Record<string, unknown>, id: string): NodeSummary {
  const summary: NodeSummary = { id };
  if (typeof node.cluster === 'string') summary.cluster = node.cluster.slice(0, 256);
  if (typeof node.user_agent_name === 'string') summary.user_agent_name = node.user_agent_name.slice(0, 128);
  if (typeof node.user_agent_version === 'string') summary.user_agent_version = node.user_agent_version.slice(0, 128);
  if (node.user_agent_build_version && typeof node.user_agent_build_version === 'object') summary.user_agent_build_version = node.user_agent_build_version;
  if (node.locality && typeof node.locality === 'object') summary.locality = node.locality;
  return summary;
}

/** The per-node stream count's key: the node id as claimed by one authenticated identity. */
function nodeSlotKey(identity: StreamIdentity, nodeId: string): string {
  return JSON.stringify([identity.method === 'none' ? '' : describe(identity), nodeId]);
}

/** The key of a workload identity's SDS secrets, when the stream authenticated as a workload. */
export function identityKeyOf(identity: StreamIdentity): string | undefined {
  return identity.method !== 'none' && identity.namespace && identity.serviceAccount ? `${identity.namespace}/${identity.serviceAccount}` : undefined;
}
