/**
 * One xDS stream, independent of its transport: bytes in (`receive`), bytes out
 * (`StreamTransport.write`). It decodes each request, runs admission on the first
 * one, hands the rest to the protocol state machine, and ends the stream with a
 * clear status on anything malformed, over a limit, or unread for too long. The
 * grpc-js server wraps it around a call; tests wrap it around an in-memory stream.
 */

import { DELTA_REQUEST_FIELDS, decodeDeltaDiscoveryRequest, decodeDiscoveryRequest, type RequestDecodeOptions, type TypeUrl } from '@meshcp/xds-protos';
import type { StreamIdentity } from '../auth/identity.js';
import type { ServingCache } from '../cache/serving-cache.js';
import type { CacheChange } from '../cache/snapshot-cache.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { type Admission, type AdmittedNode, ProtocolError, Status } from './admission.js';
import type { ConnectionRecord } from './connection.js';
import { type AnyStateMachine, DeltaStream, SotwStream } from './streams.js';

// Field numbers of the repeated request fields whose length admission bounds
// (envoy/service/discovery/v3/discovery.proto; xds-protos checks them against the descriptors).
const DELTA_LIST_FIELDS = {
  resource_names_subscribe: DELTA_REQUEST_FIELDS.resource_names_subscribe,
  resource_names_unsubscribe: DELTA_REQUEST_FIELDS.resource_names_unsubscribe,
  initial_resource_versions: DELTA_REQUEST_FIELDS.initial_resource_versions,
} as const;

/**
 * Counts the top-level occurrences of some fields by skipping over the wire format,
 * without decoding a string: a request with 200,000 entries is refused in a few
 * milliseconds instead of being decoded first. Stops quietly at anything malformed
 * (the decoder then reports it).
 */
export function countTopLevelFields<K extends string>(bytes: Uint8Array, fields: Record<K, number>): Record<K, number> {
  const counts = {} as Record<K, number>;
  const byNumber = new Map<number, K>();
  for (const key of Object.keys(fields) as K[]) {
    counts[key] = 0;
    byNumber.set(fields[key], key);
  }
  let pos = 0;
  const varint = (): number | undefined => {
    let value = 0;
    for (let shift = 0; shift < 35 && pos < bytes.length; shift += 7) {
      const byte = bytes[pos++] as number;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    return undefined;
  };
  while (pos < bytes.length) {
    const tag = varint();
    if (tag === undefined) break;
    const key = byNumber.get(Math.floor(tag / 8));
    if (key !== undefined) counts[key]++;
    const wireType = tag & 7;
    if (wireType === 0) {
      if (varint() === undefined) break;
    } else if (wireType === 1) pos += 8;
    else if (wireType === 2) {
      const length = varint();
      if (length === undefined) break;
      pos += length;
    } else if (wireType === 5) pos += 4;
    else break;
  }
  return counts;
}

export interface StreamTransport {
  /**
   * Writes one response. `taken` runs once the client has taken it off our hands
   * (for HTTP/2: flow control let it out); a client that stops reading never
   * calls it, which is what the write deadline watches.
   */
  write(bytes: Buffer, taken: () => void): void;
  /** Ends the stream with a gRPC status. */
  end(code: number, message: string): void;
  /** Ends the stream at once, dropping what is still buffered: the client is not reading. */
  abort(message: string): void;
  /**
   * Bytes the stream's connection has sent so far, if the transport knows: a client that
   * reads slowly (a storm of 10,000 syncs through one process) still moves them, one that
   * stopped reading does not.
   */
  connectionBytesSent?(): number | undefined;
}

export interface SessionContext {
  cache: ServingCache;
  metrics: Metrics;
  log: Logger;
  admission: Admission;
  /** The stream's node is known: it shows in the admin API from now on. */
  onAdmitted(session: XdsSession): void;
  /** The stream ended (any way): forget it. Called once. */
  onClosed(session: XdsSession): void;
}

export class XdsSession {
  readonly streamId: number;
  private admitted?: AdmittedNode;
  private machine?: AnyStateMachine;
  /** SotW: how requests are decoded (the name lists this stream last sent, per type, as an ACK repeats them; the admission limit on names). */
  private sotwDecode?: RequestDecodeOptions;
  private closed = false;
  /** Responses written and not yet taken by the client. */
  private untaken = 0;
  private writeDeadline?: NodeJS.Timeout;
  /** `connectionBytesSent` when the write deadline was (re)armed. */
  private sentAtArm?: number;

  constructor(
    private readonly ctx: SessionContext,
    readonly mode: 'sotw' | 'delta',
    private readonly onlyType: TypeUrl | undefined,
    private readonly transport: StreamTransport,
  ) {
    this.streamId = ctx.admission.nextStreamId();
  }

  /** The admin record, once the node is known. */
  get record(): ConnectionRecord | undefined {
    return this.admitted?.record;
  }

  get view() {
    return this.admitted?.view;
  }

  get nodeId(): string | undefined {
    return this.admitted?.record.nodeId;
  }

  /** Name → version of each resource of a type the client holds (CSDS). */
  resourcesHeld(typeUrl: TypeUrl): [string, string][] {
    return this.machine?.resourcesHeld(typeUrl) ?? [];
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * One request off the wire. Never throws: a bad request ends this stream only.
   * `receivedAt` (performance.now()) is when the transport read it, before any queueing.
   */
  receive(bytes: Uint8Array, receivedAt = performance.now()): void {
    if (this.closed) return;
    try {
      if (this.mode === 'sotw') this.onSotw(bytes, receivedAt);
      else this.onDelta(bytes, receivedAt);
    } catch (error) {
      const protocol = error instanceof ProtocolError;
      const code = protocol ? error.code : Status.INVALID_ARGUMENT;
      const message = protocol
        ? error.message
        : `malformed ${this.mode === 'sotw' ? 'DiscoveryRequest' : 'DeltaDiscoveryRequest'}: ${String((error as Error)?.message ?? error).slice(0, 200)}`;
      if (!protocol) this.ctx.metrics.ignoredRequests.inc({ reason: 'malformed' });
      else if (code !== Status.RESOURCE_EXHAUSTED) this.ctx.metrics.ignoredRequests.inc({ reason: 'protocol_error' });
      this.ctx.log.warn('ending stream', { proxy: this.nodeId, code, message });
      this.end(code, message);
    }
  }

  private onSotw(bytes: Uint8Array, receivedAt: number): void {
    // The names are counted and checked before any is decoded (a request with 200,000 names is refused unread).
    this.sotwDecode ??= { checkNameCount: (count) => this.ctx.admission.checkListLength('resource_names', count) };
    const request = decodeDiscoveryRequest(bytes, undefined, this.sotwDecode);
    const machine = this.machine ?? this.admit(request.node);
    (machine as SotwStream).onRequest(request, receivedAt);
  }

  private onDelta(bytes: Uint8Array, receivedAt: number): void {
    const counts = countTopLevelFields(bytes, DELTA_LIST_FIELDS);
    for (const list of Object.keys(DELTA_LIST_FIELDS) as (keyof typeof DELTA_LIST_FIELDS)[]) this.ctx.admission.checkListLength(list, counts[list]);
    const request = decodeDeltaDiscoveryRequest(bytes);
    const machine = this.machine ?? this.admit(request.node);
    (machine as DeltaStream).onRequest(request, receivedAt);
  }

  /** Who the transport says opened this stream; set before the first request is read. */
  identity: StreamIdentity = { method: 'none' };

  private admit(node: unknown): AnyStateMachine {
    const admitted = this.ctx.admission.admit(node, this.mode, this.streamId, this.identity);
    this.admitted = admitted;
    const deps = { cache: this.ctx.cache, metrics: this.ctx.metrics, log: this.ctx.log, limits: this.ctx.admission.limits };
    const client = { streamId: this.streamId, view: admitted.view, record: admitted.record };
    const sink = { send: (bytes: Buffer) => this.write(bytes) };
    this.machine = this.mode === 'sotw' ? new SotwStream(deps, client, sink, this.onlyType) : new DeltaStream(deps, client, sink, this.onlyType);
    this.ctx.onAdmitted(this);
    return this.machine;
  }

  /** The cache changed: the state machine decides what this stream is owed. */
  onCacheChange(change: CacheChange): void {
    if (!this.closed) this.machine?.onCacheChange(change);
  }

  private write(bytes: Buffer): void {
    if (this.closed) return;
    this.untaken++;
    this.armWriteDeadline();
    this.transport.write(bytes, () => {
      this.untaken--;
      // Progress: the client reads. The deadline restarts for what is still out, or stops.
      if (this.untaken > 0) this.armWriteDeadline(true);
      else this.disarmWriteDeadline();
    });
  }

  private armWriteDeadline(restart = false): void {
    if (this.writeDeadline && !restart) return;
    this.disarmWriteDeadline();
    const ms = this.ctx.admission.limits.writeDeadlineMs;
    this.sentAtArm = this.transport.connectionBytesSent?.();
    this.writeDeadline = setTimeout(() => {
      // Slow but reading: its connection moved bytes since the deadline was armed. Only a stopped reader is ended.
      const sent = this.transport.connectionBytesSent?.();
      if (sent !== undefined && this.sentAtArm !== undefined && sent > this.sentAtArm) {
        this.writeDeadline = undefined;
        this.armWriteDeadline();
        return;
      }
      const message = `client took no response for ${ms} ms; ending the stream`;
      this.ctx.metrics.ignoredRequests.inc({ reason: 'write_deadline' });
      this.ctx.log.warn('ending stream', { proxy: this.nodeId, code: Status.DEADLINE_EXCEEDED, message });
      this.transport.abort(message);
      this.close();
    }, ms);
    this.writeDeadline.unref();
  }

  private disarmWriteDeadline(): void {
    if (this.writeDeadline) clearTimeout(this.writeDeadline);
    this.writeDeadline = undefined;
  }

  /** Ends the stream with a status (the transport reports the close back through `close`). */
  end(code: number, message: string): void {
    if (this.closed) return;
    this.transport.end(code, message);
    this.close();
  }

  /** The stream is gone, however it ended: free its node slot and its state. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sotwDecode = undefined;
    this.disarmWriteDeadline();
    this.machine?.close();
    this.admitted?.release();
    this.ctx.onClosed(this);
  }
}
