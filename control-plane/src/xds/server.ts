/**
 * The xDS gRPC transport: ADS (SotW and Delta) and the per-type CDS/EDS/LDS/RDS
 * services on @grpc/grpc-js. Messages arrive as raw bytes and are decoded here so a
 * malformed one ends only its own stream, with a clear status.
 */
import * as grpc from '@grpc/grpc-js';
import { CLUSTER, decodeDeltaDiscoveryRequest, decodeDiscoveryRequest, ENDPOINT, LISTENER, ROUTE, type TypeUrl } from '@meshcp/xds-protos';
import type { CacheChange, SnapshotCache } from '../cache/snapshot-cache.js';
import { type Logger, logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ConnectionRecord } from './connection.js';
import { DeltaStream, ProtocolError, SotwStream, Status, type StreamContext, type StreamSink } from './streams.js';

type Stream = SotwStream | DeltaStream;

/** Streams told about a cache change per event-loop turn. */
const FAN_OUT_SLICE = 256;
type Duplex = grpc.ServerDuplexStream<Buffer, Buffer>;

const identity = (value: Buffer) => value;

function method(service: string, name: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path: `/envoy.service.${service}/${name}`,
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
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

export interface XdsServerOptions {
  /** Requests naming more resources are refused with RESOURCE_EXHAUSTED. */
  maxResourceNames?: number;
}

export class XdsServer {
  private readonly server: grpc.Server;
  private readonly streams = new Set<Stream>();
  private readonly enders = new Set<() => void>();
  /** The stream behind each registered connection record (streams register once their node is known). */
  private readonly streamsByRecord = new Map<ConnectionRecord, Stream>();
  private readonly log: Logger = logger('xds');
  private readonly ctx: Omit<StreamContext, 'register'>;

  constructor(
    cache: SnapshotCache,
    private readonly metrics: Metrics,
    options: XdsServerOptions = {},
  ) {
    this.ctx = { cache, metrics, log: this.log, limits: { maxResourceNames: options.maxResourceNames ?? 50_000 } };
    this.server = new grpc.Server({
      // Full-state pushes to many streams can exceed grpc-js's 10 MB default per HTTP/2 session.
      'grpc-node.max_session_memory': 1024,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.max_send_message_length': -1,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 20_000,
      'grpc.keepalive_permit_without_calls': 1,
    });
    for (const endpoint of ENDPOINTS) {
      const definition: grpc.ServiceDefinition = {
        [endpoint.sotw]: method(endpoint.service, endpoint.sotw),
        [endpoint.delta]: method(endpoint.service, endpoint.delta),
      };
      this.server.addService(definition, {
        [endpoint.sotw]: (call: Duplex) => this.handle(call, 'sotw', endpoint.only),
        [endpoint.delta]: (call: Duplex) => this.handle(call, 'delta', endpoint.only),
      });
    }
    cache.onChange((change) => this.fanOut(change));
  }

  async start(address: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, port) => {
        if (error) reject(error);
        else resolve(port);
      });
    });
  }

  /** Ends every stream (proxies reconnect elsewhere or later), then shuts the server down. */
  async stop(): Promise<void> {
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
   */
  private fanOut(change: CacheChange): void {
    const streams = [...this.streams];
    let next = 0;
    const step = () => {
      const end = Math.min(next + FAN_OUT_SLICE, streams.length);
      for (; next < end; next++) streams[next]?.onCacheChange(change);
      if (next < streams.length) setImmediate(step);
    };
    step();
  }

  /** Streams with a known node, for the admin API. */
  connections(): ConnectionRecord[] {
    return [...this.streamsByRecord.keys()];
  }

  viewOf(record: ConnectionRecord) {
    return this.streamsByRecord.get(record)?.proxyView;
  }

  /** Pushes whatever became sendable (e.g. when the cache first turns ready). */
  pushAll(): void {
    for (const stream of this.streams) stream.onCacheChange({ config: true, clusters: new Set() });
  }

  private handle(call: Duplex, mode: 'sotw' | 'delta', only: TypeUrl | undefined): void {
    let ended = false;
    const sink: StreamSink = {
      write: (bytes) => {
        if (!ended) call.write(bytes);
      },
      fail: (code, message) => {
        if (ended) return;
        ended = true;
        call.emit('error', { code, details: message });
      },
    };
    const ctx: StreamContext = { ...this.ctx, register: (record) => this.streamsByRecord.set(record, stream) };
    const stream: Stream = mode === 'sotw' ? new SotwStream(ctx, sink, only) : new DeltaStream(ctx, sink, only);
    this.streams.add(stream);
    const endCall = () => {
      if (!ended) call.end();
    };
    this.enders.add(endCall);
    this.metrics.connectedStreams.inc({ mode });
    const finish = () => {
      this.enders.delete(endCall);
      if (!this.streams.delete(stream)) return;
      ended = true;
      stream.close();
      if (stream.connection) this.streamsByRecord.delete(stream.connection);
      this.metrics.connectedStreams.dec({ mode });
    };
    call.on('data', (bytes: Buffer) => {
      if (ended) return;
      try {
        if (stream instanceof SotwStream) stream.onRequest(decodeDiscoveryRequest(bytes));
        else stream.onRequest(decodeDeltaDiscoveryRequest(bytes));
      } catch (error) {
        const code = error instanceof ProtocolError ? error.code : Status.INVALID_ARGUMENT;
        const message =
          error instanceof ProtocolError
            ? error.message
            : `malformed ${mode === 'sotw' ? 'DiscoveryRequest' : 'DeltaDiscoveryRequest'}: ${(error as Error).message}`;
        this.metrics.ignoredRequests.inc({ reason: error instanceof ProtocolError ? 'protocol_error' : 'malformed' });
        this.log.warn('ending stream', { nodeId: stream.nodeId, code, message });
        sink.fail(code, message);
        finish();
      }
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
