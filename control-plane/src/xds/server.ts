/**
 * The xDS gRPC transport: ADS (SotW and Delta) and the per-type CDS/EDS/LDS/RDS
 * services on @grpc/grpc-js, and the limits only the transport can enforce (message
 * size, streams per HTTP/2 connection, resetting a stream nobody reads). Messages
 * arrive as raw bytes; each call is an `XdsSession` (session.ts) that decodes them,
 * so a malformed one ends only its own stream, with a clear status.
 */

import type * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { CLUSTER, ENDPOINT, type EnvoyApi, LISTENER, loadEnvoyApi, ROUTE, type TypeUrl } from '@meshcp/xds-protos';
import type { CallCredentialsView, StreamAuthenticator } from '../auth/authenticator.js';
import { AuthError, describe } from '../auth/identity.js';
import type { ServingCache } from '../cache/serving-cache.js';
import { type CacheChange, SnapshotCache } from '../cache/snapshot-cache.js';
import type { CertificateAuthority } from '../identity/ca.js';
import { WorkloadCertificates } from '../identity/workload-certificates.js';
import { type Logger, logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { Admission, DEFAULT_LIMITS, identityKeyOf, Status, type StreamLimits } from './admission.js';
import type { ConnectionRecord } from './connection.js';
import { CSDS_SERVICE, type CsdsFleet, CsdsRequestError, clientStatus, decodeClientStatusRequest, encodeClientStatusResponse } from './csds.js';
import { AnswerTurns, CsdsBacklogFull, CsdsStream, FleetCollections } from './csds-stream.js';
import { sendPreFramedResponses } from './grpc-pre-framed.js';
import { releaseGrpcReadBuffers } from './grpc-read-buffers.js';
import { rawMethod } from './raw-method.js';
import { type SessionContext, XdsSession } from './session.js';

/** An authenticated caller that is not among the CSDS readers. */
class CsdsDenied extends Error {}

/** Streams told about a cache change per event-loop turn (unless `fanOutSlice` says otherwise). */
export const FAN_OUT_SLICE = 256;
/**
 * …and at most this long a turn: the ACKs of streams already pushed are read between
 * slices. A 256-stream slice took up to 200 ms on a loaded host, and every ACK that
 * came back meanwhile sat unread in its socket (the bench's convergence histogram read
 * 2–4× the load generator's change → ACK).
 */
const FAN_OUT_SLICE_MS = 10;
/** Time spent on queued requests before the event loop gets a turn. */
const REQUEST_SLICE_MS = 10;
type Duplex = grpc.ServerDuplexStream<Buffer, Buffer>;

/** One change that stands for both: what either touched, measured from the older one. */
export function mergeChanges(a: CacheChange, b: CacheChange): CacheChange {
  const clusters = new Set([...a.clusters, ...b.clusters]);
  const identities = a.identities || b.identities ? new Set([...(a.identities ?? []), ...(b.identities ?? [])]) : undefined;
  const appliedAt = a.appliedAt === undefined ? b.appliedAt : b.appliedAt === undefined ? a.appliedAt : Math.min(a.appliedAt, b.appliedAt);
  return {
    config: a.config || b.config,
    clusters,
    ...(identities ? { identities } : {}),
    ...(appliedAt !== undefined ? { appliedAt } : {}),
  };
}

interface Endpoint {
  service: string;
  sotw: string;
  delta: string;
  only?: TypeUrl;
}

/** Every xDS streaming service we serve: ADS carries all types, the others one each. */
const ENDPOINTS: readonly Endpoint[] = [
  { service: 'discovery.v3.AggregatedDiscoveryService', sotw: 'StreamAggregatedResources', delta: 'DeltaAggregatedResources' },
  { service: 'cluster.v3.ClusterDiscoveryService', sotw: 'StreamClusters', delta: 'DeltaClusters', only: CLUSTER },
  { service: 'endpoint.v3.EndpointDiscoveryService', sotw: 'StreamEndpoints', delta: 'DeltaEndpoints', only: ENDPOINT },
  { service: 'listener.v3.ListenerDiscoveryService', sotw: 'StreamListeners', delta: 'DeltaListeners', only: LISTENER },
  { service: 'route.v3.RouteDiscoveryService', sotw: 'StreamRoutes', delta: 'DeltaRoutes', only: ROUTE },
];

export interface XdsServerOptions extends Partial<StreamLimits> {
  /** TLS for the xDS port (`meshServerCredentials`); plaintext when absent. */
  credentials?: grpc.ServerCredentials;
  /** Who opens each stream; without one every stream is unauthenticated (an --insecure server). */
  authenticator?: StreamAuthenticator;
  /** The mesh CA: authenticated workloads get their SVID and the trust bundle over SDS. */
  ca?: CertificateAuthority;
  /** Where CSDS reads the fleet when it is more than this server's streams (an xDS worker: every worker's). */
  csdsFleet?: () => Promise<CsdsFleet>;
  /** Who issues workload SVIDs instead of a local CA (an xDS worker asks the primary: one SVID per identity, whichever worker). */
  certificates?: WorkloadCertificateIssuer;
  /** Largest request accepted, in bytes (default 4 MiB); larger ones end their stream with RESOURCE_EXHAUSTED. */
  maxMessageBytes?: number;
  /** Streams open at once on one HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxStreamsPerConnection?: number;
  /**
   * Identities (SPIFFE IDs) that may read CSDS on an authenticating server: the fleet's
   * status names every workload, so a workload may not read it. Unused on an --insecure server.
   */
  csdsReaders?: readonly string[];
  /** Streams told about a cache change per event-loop turn (default FAN_OUT_SLICE); tests shrink it to span several slices with a few streams. */
  fanOutSlice?: number;
}

/** Issues and renews the SDS secrets of the identities with open streams (WorkloadCertificates, or a worker's proxy of it). */
export interface WorkloadCertificateIssuer {
  /** A stream of `namespace/serviceAccount` opened: its secrets are in the cache before this resolves. */
  acquire(identityKey: string): Promise<void>;
  release(identityKey: string): void;
  stop(): void;
  status(): { identity: string; spiffeId?: string; notAfter?: string; serialNumber?: string; signer?: string; trustBundle?: string }[];
}

export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_STREAMS_PER_CONNECTION = 16;
/** How long a keepalive PING may wait for its answer (see the server options). */
export const KEEPALIVE_TIMEOUT_MS = 120_000;

/**
 * The HTTP/2 stream under a grpc-js server call. grpc-js has no public way to reset
 * a stream, and a status sent to a client that stopped reading queues behind the
 * data it does not read; resetting the stream frees that data at once. Reached
 * through grpc-js internals (1.14: call.call.stream), checked by the slow-reader test.
 */
export function http2StreamOf(call: Duplex): http2.ServerHttp2Stream | undefined {
  const inner = (call as unknown as { call?: { stream?: unknown; nextCall?: { stream?: unknown } } }).call;
  const stream = inner?.stream ?? inner?.nextCall?.stream;
  return stream && typeof (stream as http2.ServerHttp2Stream).close === 'function' ? (stream as http2.ServerHttp2Stream) : undefined;
}

/** NGHTTP2_CANCEL: the RST_STREAM code for "no longer needed". */
const RST_CANCEL = 8;

/**
 * Requests of every stream, handled in arrival order but never all in one event-loop
 * turn: HTTP/2 delivers the messages of many streams from one socket read, and ten
 * large requests handled back to back would hold the loop for their sum. After each
 * time slice the queue yields, so keepalives, the admin API and other reads get in.
 */
class RequestQueue {
  private readonly queue: { bytes: Buffer; session: XdsSession; onClosed: () => void; receivedAt: number }[] = [];
  private head = 0;
  private scheduled = false;

  constructor(
    private readonly sliceMs: number,
    /** Told how long each request waited (ms) before it was handled. */
    private readonly onHandled: (session: XdsSession, waitedMs: number) => void,
  ) {}

  /** `receivedAt`: when the request came off the wire, so its wait here does not count as the proxy's (convergence). */
  push(bytes: Buffer, session: XdsSession, onClosed: () => void, receivedAt: number): void {
    this.queue.push({ bytes, session, onClosed, receivedAt });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    const started = performance.now();
    while (this.head < this.queue.length && performance.now() - started < this.sliceMs) {
      const item = this.queue[this.head++] as (typeof this.queue)[number];
      this.onHandled(item.session, performance.now() - item.receivedAt);
      item.session.receive(item.bytes, item.receivedAt);
      if (item.session.isClosed) item.onClosed();
    }
    if (this.head >= this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
      this.scheduled = false;
    } else setImmediate(() => this.drain());
  }
}

export class XdsServer {
  private readonly server: grpc.Server;
  private readonly requests = new RequestQueue(REQUEST_SLICE_MS, (session, waitedMs) =>
    this.metrics.requestWaitSeconds.observe({ mode: session.mode }, waitedMs / 1000),
  );
  private readonly sessions = new Set<XdsSession>();
  private readonly enders = new Set<() => void>();
  /** The session behind each registered connection record (sessions register once their node is admitted). */
  private readonly sessionsByRecord = new Map<ConnectionRecord, XdsSession>();
  private readonly log: Logger = logger('xds');
  readonly admission: Admission;
  private readonly ctx: SessionContext;

  private readonly credentials: grpc.ServerCredentials;
  private readonly fanOutSlice: number;
  private readonly authenticator?: StreamAuthenticator;
  private readonly certificates?: WorkloadCertificateIssuer;
  private readonly csdsReaders: ReadonlySet<string>;
  private readonly csdsFleet?: () => Promise<CsdsFleet>;
  private api?: EnvoyApi;
  /** CSDS answers are built one at a time across streams (csds-stream.ts). */
  private readonly csdsTurns = new AnswerTurns();
  /** CSDS answers built since start, for tests: a flood of requests on one stream builds a few, not one each. */
  csdsAnswersBuilt = 0;

  constructor(
    cache: ServingCache,
    private readonly metrics: Metrics,
    options: XdsServerOptions = {},
  ) {
    this.credentials = options.credentials ?? grpc.ServerCredentials.createInsecure();
    this.fanOutSlice = Math.max(1, options.fanOutSlice ?? FAN_OUT_SLICE);
    if (options.authenticator) this.authenticator = options.authenticator;
    if (options.certificates) this.certificates = options.certificates;
    else if (options.ca && cache instanceof SnapshotCache) {
      const certificates = new WorkloadCertificates(options.ca, cache, metrics);
      certificates.start();
      this.certificates = certificates;
    }
    const limits: StreamLimits = {
      maxResourceNames: options.maxResourceNames ?? DEFAULT_LIMITS.maxResourceNames,
      maxStreamsPerNode: options.maxStreamsPerNode ?? DEFAULT_LIMITS.maxStreamsPerNode,
      writeDeadlineMs: options.writeDeadlineMs ?? DEFAULT_LIMITS.writeDeadlineMs,
    };
    this.admission = new Admission(cache, metrics, this.log, limits);
    this.ctx = {
      cache,
      metrics,
      log: this.log,
      admission: this.admission,
      onAdmitted: (session) => {
        if (session.record) this.sessionsByRecord.set(session.record, session);
      },
      onClosed: (session) => {
        this.sessions.delete(session);
        if (session.record) this.sessionsByRecord.delete(session.record);
      },
    };
    // Idle streams must not keep their last request's socket read buffers (grpc-read-buffers.ts).
    releaseGrpcReadBuffers();
    // Responses leave as encoded, header included, without grpc-js's copy (grpc-pre-framed.ts).
    sendPreFramedResponses();
    this.server = new grpc.Server({
      // Full-state pushes to many streams can exceed grpc-js's 10 MB default per HTTP/2 session.
      'grpc-node.max_session_memory': 1024,
      'grpc.max_receive_message_length': options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': -1,
      'grpc.max_concurrent_streams': options.maxStreamsPerConnection ?? DEFAULT_MAX_STREAMS_PER_CONNECTION,
      'grpc.keepalive_time_ms': 30_000,
      // A PING's answer waits behind every response queued on the connection before it: in a
      // 10,000-proxy Delta storm on 2 cores, 20 s dropped 400–3,300 live streams (docs/performance.md,
      // "Figures"). A client that stopped reading is ended by the write deadline instead, so the
      // keepalive only has to find idle dead peers, and 2.5 minutes is soon enough for that.
      'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
      'grpc.keepalive_permit_without_calls': 1,
    });
    for (const endpoint of ENDPOINTS) {
      const definition: grpc.ServiceDefinition = {
        [endpoint.sotw]: rawMethod(`/envoy.service.${endpoint.service}/${endpoint.sotw}`),
        [endpoint.delta]: rawMethod(`/envoy.service.${endpoint.service}/${endpoint.delta}`),
      };
      this.server.addService(definition, {
        [endpoint.sotw]: (call: Duplex) => this.handle(call, 'sotw', endpoint.only),
        [endpoint.delta]: (call: Duplex) => this.handle(call, 'delta', endpoint.only),
      });
    }
    this.csdsReaders = new Set(options.csdsReaders ?? []);
    if (options.csdsFleet) this.csdsFleet = options.csdsFleet;
    this.addCsds();
    cache.onChange((change) => this.fanOut(change));
  }

  /** Name → version of each resource of a type a stream's client holds (CSDS). */
  resourcesHeld(record: ConnectionRecord, typeUrl: TypeUrl): [string, string][] {
    return this.sessionsByRecord.get(record)?.resourcesHeld(typeUrl) ?? [];
  }

  /** CSDS (csds.ts): FetchClientStatus (unary) and StreamClientStatus (a response per request). */
  private addCsds(): void {
    const raw = (streaming: boolean, name: string) => rawMethod(`/${CSDS_SERVICE}/${name}`, streaming);
    // On a worker, the fleet is every worker's streams (the primary collects them), at most once per interval.
    const collections = this.csdsFleet ? new FleetCollections(this.csdsFleet) : undefined;
    const answer = (bytes: Buffer, receivedAt: number): Promise<Buffer> =>
      this.csdsTurns.take(async () => {
        this.api ??= loadEnvoyApi();
        const request = decodeClientStatusRequest(this.api, bytes);
        const fleet = collections ? await collections.since(receivedAt) : this;
        this.csdsAnswersBuilt++;
        return encodeClientStatusResponse(this.api, clientStatus(fleet, request));
      });
    const failure = (error: unknown): grpc.StatusObject => {
      const status = (code: number, details: string) => ({ code, details, metadata: new grpc.Metadata() });
      if (error instanceof CsdsDenied) return status(Status.PERMISSION_DENIED, error.message);
      if (error instanceof AuthError) {
        this.admission.refused(error, { method: 'none' });
        return status(Status.UNAUTHENTICATED, `${error.reason}: ${error.message}`);
      }
      // An unsupported matcher or a request that does not decode; anything else is ours.
      const message = String((error as Error)?.message ?? error).slice(0, 300);
      if (error instanceof CsdsRequestError) return status(Status.INVALID_ARGUMENT, message);
      if (error instanceof CsdsBacklogFull) return status(Status.RESOURCE_EXHAUSTED, message);
      this.log.error('CSDS answer failed', { message });
      return status(Status.INTERNAL, 'internal error answering client status');
    };
    this.server.addService(
      { FetchClientStatus: raw(false, 'FetchClientStatus'), StreamClientStatus: raw(true, 'StreamClientStatus') },
      {
        FetchClientStatus: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
          const receivedAt = performance.now();
          this.authorizeCsds(call)
            .then(() => answer(call.request, receivedAt))
            .then(
              (bytes) => callback(null, bytes),
              (error: unknown) => callback(failure(error)),
            );
        },
        StreamClientStatus: (call: Duplex) => {
          const authorized = this.authorizeCsds(call).then(
            () => true,
            (error: unknown) => {
              call.emit('error', failure(error));
              return false;
            },
          );
          const stream = new CsdsStream(call, authorized, {
            answer,
            fail: (error) => call.emit('error', failure(error)),
            stalled: () => {
              this.metrics.ignoredRequests.inc({ reason: 'csds_write_deadline' });
              this.log.warn('ending CSDS stream', { message: `client took no answer for ${this.admission.limits.writeDeadlineMs} ms` });
              const http2Stream = http2StreamOf(call);
              if (http2Stream) http2Stream.close(RST_CANCEL);
              else call.emit('error', { code: Status.DEADLINE_EXCEEDED, details: 'client status answers not read within the write deadline' });
            },
            writeDeadlineMs: this.admission.limits.writeDeadlineMs,
            connectionBytesSent: () => http2StreamOf(call)?.session?.socket?.bytesWritten,
          });
          call.on('data', (bytes: Buffer) => stream.receive(bytes));
          call.on('end', () => stream.endAfterAnswers(() => call.end()));
          const closed = () => stream.close();
          call.on('error', closed);
          call.on('cancelled', closed);
          call.on('close', closed);
        },
      },
    );
  }

  /** On an authenticating server only the configured readers may see the fleet's status. */
  private async authorizeCsds(call: CallCredentialsView): Promise<void> {
    if (!this.authenticator) return;
    const caller = await this.authenticator.authenticate(call);
    if (!this.csdsReaders.has(describe(caller))) throw new CsdsDenied(`${describe(caller)} may not read client status (CSDS)`);
  }

  async start(address: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, this.credentials, (error, port) => {
        if (error) reject(error);
        else resolve(port);
      });
    });
  }

  /** Workload certificates served over SDS, for the admin API. */
  certificateStatus() {
    return this.certificates?.status() ?? [];
  }

  /** Ends every stream (proxies reconnect elsewhere or later), then shuts the server down within 500 ms. */
  async stop(): Promise<void> {
    this.certificates?.stop();
    for (const end of this.enders) end();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 500);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Tells every stream about a change, a slice at a time, so a push to thousands of
   * streams never blocks the event loop long enough to starve keepalives and reads.
   *
   * One wave at a time (push throttling): a change arriving mid-wave supersedes it
   * rather than queueing a second wave behind it. Streams the wave has not reached yet
   * get the merged change (they read the newest state when told); every stream then
   * gets one follow-up wave with what arrived mid-wave — all of them, not only the ones
   * this wave had reached: a stream reached by an earlier wave is in no list of this
   * one, and a follow-up limited to this wave's reached streams left such streams
   * behind for good (the bench's churn self-check saw streams stop receiving). A burst
   * of k changes therefore costs each stream at most two notifications, never k stale ones.
   */
  private fanOut(change: CacheChange): void {
    const wave = this.wave;
    if (!wave) {
      this.startWave([...this.sessions], change);
      return;
    }
    wave.change = mergeChanges(wave.change, change);
    this.followUp = this.followUp ? mergeChanges(this.followUp, change) : change;
  }

  private wave?: { sessions: XdsSession[]; change: CacheChange; next: number };
  /** What arrived while a wave ran: every stream is told once it ends. */
  private followUp?: CacheChange;

  private startWave(sessions: XdsSession[], change: CacheChange): void {
    const wave = { sessions, change, next: 0 };
    this.wave = wave;
    const step = () => {
      const end = Math.min(wave.next + this.fanOutSlice, wave.sessions.length);
      const started = performance.now();
      while (wave.next < end && performance.now() - started < FAN_OUT_SLICE_MS) wave.sessions[wave.next++]?.onCacheChange(wave.change);
      if (wave.next < wave.sessions.length) {
        setImmediate(step);
        return;
      }
      this.wave = undefined;
      const followUp = this.followUp;
      this.followUp = undefined;
      if (followUp) this.startWave([...this.sessions], followUp);
    };
    step();
  }

  /** Streams with a known node, for the admin API. */
  connections(): ConnectionRecord[] {
    return [...this.sessionsByRecord.keys()];
  }

  viewOf(record: ConnectionRecord) {
    return this.sessionsByRecord.get(record)?.view;
  }

  /** Open streams, admitted or not. */
  openStreams(): number {
    return this.sessions.size;
  }

  /** Pushes whatever became sendable (e.g. when the cache first turns ready). */
  pushAll(): void {
    for (const session of this.sessions) session.onCacheChange({ config: true, clusters: new Set() });
  }

  private handle(call: Duplex, mode: 'sotw' | 'delta', only: TypeUrl | undefined): void {
    let ended = false;
    const session = new XdsSession(this.ctx, mode, only, {
      write: (bytes, taken) => {
        if (!ended) call.write(bytes, () => taken());
      },
      end: (code, message) => {
        if (ended) return;
        ended = true;
        call.emit('error', { code, details: message });
      },
      abort: (message) => {
        if (ended) return;
        ended = true;
        const stream = http2StreamOf(call);
        if (stream) stream.close(RST_CANCEL);
        else call.emit('error', { code: Status.DEADLINE_EXCEEDED, details: message });
      },
      connectionBytesSent: () => http2StreamOf(call)?.session?.socket?.bytesWritten,
    });
    this.sessions.add(session);
    const endCall = () => {
      if (!ended) call.end();
    };
    this.enders.add(endCall);
    this.metrics.connectedStreams.inc({ mode });
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      ended = true;
      this.enders.delete(endCall);
      if (heldIdentity) this.certificates?.release(heldIdentity);
      heldIdentity = undefined;
      session.close();
      this.metrics.connectedStreams.dec({ mode });
    };
    // No request is read until the stream's identity is known (a TokenReview may take 15 s):
    // without a 'data' listener grpc-js reads nothing more from the HTTP/2 stream, so a client
    // writing meanwhile is held by flow control (at most one message and the stream's window
    // buffered here), instead of by an in-memory list it could grow without bound.
    const readRequests = () =>
      call.on('data', (bytes: Buffer) => {
        // The earliest point meshcp sees the request: an ACK's convergence ends here, not after its queueing.
        this.requests.push(bytes, session, finish, performance.now());
      });
    let heldIdentity: string | undefined;
    if (!this.authenticator) readRequests();
    else
      this.authenticator
        .authenticate(call as unknown as CallCredentialsView)
        .then(
          async (identity) => {
            const identityKey = identityKeyOf(identity);
            if (identityKey && this.certificates && !finished) {
              heldIdentity = identityKey;
              await this.certificates.acquire(identityKey);
            }
            if (finished) return;
            session.identity = identity;
            readRequests();
          },
          (error: unknown) => {
            const authError = error instanceof AuthError ? error : new AuthError('token-review-unavailable', String((error as Error)?.message ?? error));
            this.admission.refused(authError, { method: 'none' });
            session.end(Status.UNAUTHENTICATED, `${authError.reason}: ${authError.message}`);
            finish();
          },
        )
        // The stream's certificates could not be issued: it ends, the server goes on.
        .catch((error: unknown) => {
          this.log.error('workload certificates unavailable; ending stream', { message: String((error as Error)?.message ?? error).slice(0, 300) });
          session.end(Status.UNAVAILABLE, 'workload certificates unavailable; retry later');
          finish();
        });
    call.on('end', () => {
      finish();
      call.end();
    });
    call.on('error', finish);
    call.on('cancelled', finish);
    call.on('close', finish);
  }
}
