/**
 * Admission: who may open a stream and how much one request may ask for. It reads
 * the node on a stream's first request, checks it and the server-wide limits, and
 * creates the admin record (connection.ts) the stream state machine then updates.
 * No protocol state lives here: the state machines (streams.ts) never see a request
 * that admission refused.
 */
import { formatVersion, localityKey, proxyFromNode } from '@meshcp/translators';
import type { ProxyView, SnapshotCache } from '../cache/snapshot-cache.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ConnectionRecord } from './connection.js';

/** gRPC status codes we use. */
export const Status = { INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, RESOURCE_EXHAUSTED: 8 } as const;

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
  /** Streams open at once claiming one node id. */
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

  constructor(
    private readonly cache: SnapshotCache,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    readonly limits: StreamLimits,
  ) {}

  /** A fresh stream id (also the nonce prefix of the stream's responses). */
  nextStreamId(): number {
    return nextStreamId++;
  }

  /** Reads and checks the node of a stream's first request; throws ProtocolError. */
  admit(node: unknown, mode: 'sotw' | 'delta', streamId: number): AdmittedNode {
    if (!node || typeof node !== 'object') throw new ProtocolError(Status.INVALID_ARGUMENT, 'the first request on a stream must carry node');
    const info = proxyFromNode(node as Parameters<typeof proxyFromNode>[0]);
    if (!info.nodeId) throw new ProtocolError(Status.INVALID_ARGUMENT, 'node.id is required');
    if (info.nodeId.length > MAX_NODE_ID_CHARS) {
      throw new ProtocolError(Status.INVALID_ARGUMENT, `node.id is ${info.nodeId.length} characters; the limit is ${MAX_NODE_ID_CHARS}`);
    }
    const open = this.streamsPerNode.get(info.nodeId) ?? 0;
    if (open >= this.limits.maxStreamsPerNode) {
      this.metrics.ignoredRequests.inc({ reason: 'node_stream_limit' });
      throw new ProtocolError(
        Status.RESOURCE_EXHAUSTED,
        `node ${JSON.stringify(info.nodeId.slice(0, 64))} already has ${open} streams open; the limit is ${this.limits.maxStreamsPerNode}`,
      );
    }
    this.streamsPerNode.set(info.nodeId, open + 1);
    const view = this.cache.viewFor(info);
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
      connectedAt: new Date().toISOString(),
      types: new Map(),
    };
    for (const warning of view.profile.warnings) this.log.warn(warning, { nodeId: info.nodeId });
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.cache.release(view);
      const left = (this.streamsPerNode.get(info.nodeId) ?? 1) - 1;
      if (left > 0) this.streamsPerNode.set(info.nodeId, left);
      else this.streamsPerNode.delete(info.nodeId);
    };
    return { view, record, release };
  }

  /** One request list's length against the limit; throws RESOURCE_EXHAUSTED. */
  checkListLength(what: string, count: number): void {
    if (count > this.limits.maxResourceNames) {
      this.metrics.ignoredRequests.inc({ reason: 'too_many_names' });
      throw new ProtocolError(Status.RESOURCE_EXHAUSTED, `request names ${count} resources in ${what}; the limit is ${this.limits.maxResourceNames}`);
    }
  }

  /** Streams open per node id, for tests and the admin API. */
  openStreams(nodeId: string): number {
    return this.streamsPerNode.get(nodeId) ?? 0;
  }
}
