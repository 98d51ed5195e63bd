/** A raw xDS client on grpc-js for protocol tests: sends requests, awaits decoded responses. */
import * as grpc from '@grpc/grpc-js';
import {
  type DecodedResponse,
  type DeltaDiscoveryRequestJson,
  type DiscoveryRequestJson,
  decodeDeltaDiscoveryResponse,
  decodeDiscoveryResponse,
  encodeDeltaDiscoveryRequest,
  encodeDiscoveryRequest,
} from '@meshcp/xds-protos';

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService';

export class XdsTestClient {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  private readonly queue: DecodedResponse[] = [];
  private waiters: ((r: DecodedResponse) => void)[] = [];
  status?: grpc.StatusObject;
  private statusWaiters: ((s: grpc.StatusObject) => void)[] = [];

  constructor(
    port: number,
    readonly mode: 'sotw' | 'delta' = 'sotw',
    path = mode === 'sotw' ? `${ADS}/StreamAggregatedResources` : `${ADS}/DeltaAggregatedResources`,
    options: {
      /** Never read responses (a client that stopped reading: flow control stays shut). */
      paused?: boolean;
      /** A connection of its own instead of grpc-js's shared one per target. */
      ownConnection?: boolean;
    } = {},
  ) {
    this.client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options.ownConnection ? { 'grpc.use_local_subchannel_pool': 1 } : {});
    this.call = this.client.makeBidiStreamRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
    );
    if (options.paused) this.call.pause();
    else this.attachReader(mode);
    this.call.on('status', (status) => {
      this.status = status;
      for (const w of this.statusWaiters) w(status);
    });
    this.call.on('error', () => undefined);
  }

  private attachReader(mode: 'sotw' | 'delta'): void {
    this.call.on('data', (bytes: Buffer) => {
      const decoded = mode === 'sotw' ? decodeDiscoveryResponse(bytes) : decodeDeltaDiscoveryResponse(bytes);
      const waiter = this.waiters.shift();
      if (waiter) waiter(decoded);
      else this.queue.push(decoded);
    });
  }

  send(request: DiscoveryRequestJson | DeltaDiscoveryRequestJson): void {
    this.call.write(
      this.mode === 'sotw' ? encodeDiscoveryRequest(request as DiscoveryRequestJson) : encodeDeltaDiscoveryRequest(request as DeltaDiscoveryRequestJson),
    );
  }

  sendRaw(bytes: Buffer): void {
    this.call.write(bytes);
  }

  next(timeoutMs = 5000): Promise<DecodedResponse> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no xDS response within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (r: DecodedResponse) => {
        clearTimeout(timer);
        resolve(r);
      };
      this.waiters.push(waiter);
    });
  }

  /** Responses already received and not yet consumed. */
  pending(): number {
    return this.queue.length;
  }

  ended(timeoutMs = 5000): Promise<grpc.StatusObject> {
    if (this.status) return Promise.resolve(this.status);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('stream did not end')), timeoutMs);
      this.statusWaiters.push((s) => {
        clearTimeout(timer);
        resolve(s);
      });
    });
  }

  close(): void {
    this.call.end();
    this.client.close();
  }
}

export function names(response: DecodedResponse): string[] {
  return (response.resources ?? []).map((r) => String((r as { name?: string; cluster_name?: string }).name ?? (r as { cluster_name?: string }).cluster_name));
}
