/**
 * xDS streams without a transport, in the spirit of go-control-plane's mockStream:
 * requests go in as encoded bytes through the real decoder, admission and state
 * machine (`XdsSession`); responses come out decoded, in order, synchronously. So a
 * protocol test reads "send this → expect that", and "nothing was sent" is a fact,
 * not a timeout.
 */
import {
  type DecodedResponse,
  type DeltaDiscoveryRequestJson,
  type DiscoveryRequestJson,
  decodeDeltaDiscoveryResponse,
  decodeDiscoveryResponse,
  encodeDeltaDiscoveryRequest,
  encodeDiscoveryRequest,
  type TypeUrl,
} from '@meshcp/xds-protos';
import { SnapshotCache } from '../src/cache/snapshot-cache.js';
import { logger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { Admission, DEFAULT_LIMITS, type StreamLimits } from '../src/xds/admission.js';
import type { ConnectionRecord } from '../src/xds/connection.js';
import { type SessionContext, XdsSession } from '../src/xds/session.js';

/** The server side of in-memory streams: a real cache, metrics and admission. */
export class MemoryServer {
  readonly metrics = new Metrics();
  readonly cache: SnapshotCache;
  readonly admission: Admission;
  readonly sessions = new Set<XdsSession>();
  private readonly ctx: SessionContext;

  constructor(limits: Partial<StreamLimits> = {}, cache?: SnapshotCache) {
    this.cache = cache ?? new SnapshotCache(this.metrics);
    const log = logger('xds-test');
    this.admission = new Admission(this.cache, this.metrics, log, { ...DEFAULT_LIMITS, ...limits });
    this.ctx = {
      cache: this.cache,
      metrics: this.metrics,
      log,
      admission: this.admission,
      onAdmitted: () => undefined,
      onClosed: (session) => this.sessions.delete(session),
    };
    this.cache.onChange((change) => {
      for (const session of this.sessions) session.onCacheChange(change);
    });
  }

  connect(mode: 'sotw' | 'delta' = 'sotw', onlyType?: TypeUrl): MemoryStream {
    return new MemoryStream(this.ctx, mode, onlyType, (session) => this.sessions.add(session));
  }

  async counter(name: 'ignoredRequests' | 'acks' | 'nacks' | 'sharedResponses', label: Record<string, string>): Promise<number> {
    const { values } = await this.metrics[name].get();
    return values.filter((v) => Object.entries(label).every(([k, l]) => v.labels[k] === l)).reduce((sum, v) => sum + v.value, 0);
  }
}

export class MemoryStream {
  readonly session: XdsSession;
  /** Responses as written; decoded when read, so timing a request does not time the test's decoding. */
  private readonly queue: Buffer[] = [];
  private readonly decode: (bytes: Buffer) => DecodedResponse;
  /** The status the stream ended with, if it ended. */
  status?: { code: number; message: string };
  /** Set when the server reset the stream because the client stopped reading. */
  aborted?: string;
  private reading = true;
  private readonly untaken: (() => void)[] = [];

  constructor(ctx: SessionContext, mode: 'sotw' | 'delta', onlyType: TypeUrl | undefined, register: (session: XdsSession) => void) {
    this.decode = mode === 'sotw' ? decodeDiscoveryResponse : decodeDeltaDiscoveryResponse;
    this.session = new XdsSession(ctx, mode, onlyType, {
      write: (bytes, taken) => {
        this.queue.push(bytes);
        if (this.reading) taken();
        else this.untaken.push(taken);
      },
      end: (code, message) => {
        this.status = { code, message };
      },
      abort: (message) => {
        this.aborted = message;
      },
      connectionBytesSent: () => this.connectionBytes,
    });
    register(this.session);
  }

  send(request: DiscoveryRequestJson | DeltaDiscoveryRequestJson): this {
    const bytes =
      this.session.mode === 'sotw'
        ? encodeDiscoveryRequest(request as DiscoveryRequestJson)
        : encodeDeltaDiscoveryRequest(request as DeltaDiscoveryRequestJson);
    this.session.receive(bytes);
    return this;
  }

  sendRaw(bytes: Uint8Array): this {
    this.session.receive(bytes);
    return this;
  }

  /** The next response; fails the test if the server sent none. */
  next(): DecodedResponse {
    const response = this.queue.shift();
    if (!response) throw new Error(`expected a response, the server sent none${this.status ? ` (stream ended: ${this.status.message})` : ''}`);
    return this.decode(response);
  }

  /** The next response's bytes as written (not decoded); fails the test if the server sent none. */
  nextBytes(): Buffer {
    const response = this.queue.shift();
    if (!response) throw new Error('expected a response, the server sent none');
    return response;
  }

  /** Every response not yet read. */
  drain(): DecodedResponse[] {
    return this.queue.splice(0).map((bytes) => this.decode(bytes));
  }

  pending(): number {
    return this.queue.length;
  }

  /** ACKs a response (SotW repeats its names; Delta does not). */
  ack(response: DecodedResponse, names?: string[]): this {
    if (this.session.mode === 'sotw') {
      return this.send({
        type_url: response.type_url,
        version_info: response.version_info,
        response_nonce: response.nonce,
        ...(names ? { resource_names: names } : {}),
      });
    }
    return this.send({ type_url: response.type_url, response_nonce: response.nonce });
  }

  nack(response: DecodedResponse, message: string, names?: string[]): this {
    return this.send({
      type_url: response.type_url,
      response_nonce: response.nonce,
      error_detail: { code: 3, message },
      ...(this.session.mode === 'sotw' && names ? { resource_names: names } : {}),
    });
  }

  /** The client stops taking responses off the wire (flow control stays shut). */
  stopReading(): void {
    this.reading = false;
  }

  /** What the transport reports as its connection's bytes sent (a slow reader moves it; undefined: unknown). */
  connectionBytes?: number;

  get record(): ConnectionRecord | undefined {
    return this.session.record;
  }

  close(): void {
    this.session.close();
  }
}

export function names(response: DecodedResponse): string[] {
  return (response.resources ?? []).map((r) => String((r as { name?: string }).name ?? (r as { cluster_name?: string }).cluster_name));
}
