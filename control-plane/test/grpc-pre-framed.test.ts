/**
 * Responses leave grpc-js without its copy (grpc-pre-framed.ts, response-bytes.ts): a
 * response encoded with its gRPC header in front reaches the HTTP/2 stream as the very
 * Buffer it was encoded in, and a real grpc-js client reads it byte for byte. Anything
 * else is framed by grpc-js as before. The process without the wrapper (a grpc-js that
 * reshaped its server call) is grpc-pre-framed-fallback.test.ts.
 */
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { CLUSTER, ENDPOINT, type EncodedResource, encodeDeltaResponse, encodeSotwResponse } from '@meshcp/xds-protos';
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics, SnapshotCache, XdsServer } from '../src/index.js';
import { installPreFramedSends, type ServerCallClass, sendPreFramedResponses, sendsPreFramed } from '../src/xds/grpc-pre-framed.js';
import { rawMethod } from '../src/xds/raw-method.js';
import { deltaResponseBytes, framedResponse, sotwResponseBytes } from '../src/xds/response-bytes.js';
import { http2StreamOf } from '../src/xds/server.js';
import { ENVOY_NODE, mesh, serviceYaml } from './fixtures.js';
import { names, XdsTestClient } from './xds-client.js';

const { BaseServerInterceptingCall } = createRequire(import.meta.url)('@grpc/grpc-js/build/src/server-interceptors.js') as {
  BaseServerInterceptingCall: ServerCallClass;
};

/** ~600 KB of ClusterLoadAssignment-sized resources: a large response, as at 1,000 clusters. */
const resources: EncodedResource[] = Array.from({ length: 1000 }, (_, i) => {
  const value = Buffer.alloc(600, i & 0xff);
  return { name: `shop/svc-${i}|8080`, typeUrl: ENDPOINT, version: `v${i}`, value, any: value };
});

const PATH = '/meshcp.test.Frames/Stream';

interface Written {
  chunk: Buffer;
}

/**
 * A grpc-js server whose one bidi method answers each request with `responses()`, and
 * records every Buffer grpc-js hands its HTTP/2 stream.
 */
async function framesServer(responses: () => Buffer[]) {
  const server = new grpc.Server();
  const written: Written[] = [];
  const method = rawMethod(PATH);
  server.register(
    PATH,
    (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      const stream = http2StreamOf(call as unknown as Duplex);
      if (!stream) throw new Error('grpc-js call without its HTTP/2 stream: grpc-js reshaped its call');
      const write = stream.write.bind(stream) as (chunk: Buffer, callback?: (error?: Error | null) => void) => boolean;
      (stream as unknown as { write: typeof write }).write = (chunk, callback) => {
        written.push({ chunk });
        return write(chunk, callback);
      };
      call.on('data', () => {
        for (const response of responses()) call.write(response);
      });
      call.on('end', () => call.end());
    },
    method.responseSerialize,
    method.requestDeserialize,
    'bidi',
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  /** Sends one request and resolves with the first `count` messages read back. */
  const exchange = (count: number) =>
    new Promise<Buffer[]>((resolve, reject) => {
      const call = client.makeBidiStreamRequest(PATH, method.requestSerialize, method.responseDeserialize);
      const received: Buffer[] = [];
      call.on('data', (message: Buffer) => {
        received.push(message);
        if (received.length === count) {
          call.end();
          resolve(received);
        }
      });
      call.on('error', reject);
      call.write(Buffer.from('request'));
    });
  const close = () => {
    client.close();
    server.forceShutdown();
  };
  return { written, exchange, close };
}

describe('pre-framed responses through a real grpc-js server and client', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  it('an XdsServer installs the wrapper on the grpc-js it runs with', () => {
    const metrics = new Metrics();
    new XdsServer(new SnapshotCache(metrics), metrics);
    // False means grpc-js changed its server call's shape: every response is copied again.
    expect(sendsPreFramed()).toBe(true);
  });

  it('a large response reaches the HTTP/2 stream as the Buffer it was encoded in, and arrives byte for byte', async () => {
    sendPreFramedResponses();
    const sotwParts = { versionInfo: 'v1', typeUrl: ENDPOINT, nonce: '1-1', resources };
    const deltaParts = { systemVersionInfo: 'v1', typeUrl: ENDPOINT, nonce: '1-2', resources, removed: ['gone'] };
    const sotw = sotwResponseBytes(sotwParts);
    const delta = deltaResponseBytes(deltaParts);
    // A copy of the same bytes is not pre-framed: grpc-js frames it itself.
    const copy = Buffer.from(sotw);
    expect(sotw.length).toBeGreaterThan(600_000);
    const { written, exchange, close } = await framesServer(() => [sotw, delta, copy]);
    cleanups.push(close);

    const received = await exchange(3);
    expect(received[0]?.equals(encodeSotwResponse(sotwParts))).toBe(true);
    expect(received[1]?.equals(encodeDeltaResponse(deltaParts))).toBe(true);
    expect(received[2]?.equals(sotw)).toBe(true);

    const messages = written.filter((w) => w.chunk.length > 1000);
    expect(messages).toHaveLength(3);
    for (const [i, encoded] of [sotw, delta].entries()) {
      const { chunk } = messages[i] as Written;
      // The same memory: the header in the 5 bytes before the message, nothing copied.
      expect(chunk.buffer).toBe(encoded.buffer);
      expect(chunk.byteOffset).toBe(encoded.byteOffset - 5);
      expect(chunk.length).toBe(encoded.length + 5);
    }
    const copied = (messages[2] as Written).chunk;
    expect(copied.buffer).not.toBe(copy.buffer);
    expect(copied.subarray(5).equals(copy)).toBe(true);
    expect([copied[0], copied.readUInt32BE(1)]).toEqual([0, copy.length]);
  });

  it("an XdsServer's SotW and Delta responses are all handed to grpc-js's HTTP/2 write uncopied", async () => {
    const metrics = new Metrics();
    const cache = new SnapshotCache(metrics);
    cache.setModel(mesh(...Array.from({ length: 200 }, (_, i) => serviceYaml(`svc-${i}`, [1000 + i, 2000 + i]))));
    const server = new XdsServer(cache, metrics);
    const port = await server.start('127.0.0.1:0');
    const serialized: { value: unknown; output: Buffer }[] = [];
    const wrapped = BaseServerInterceptingCall.prototype.serializeMessage;
    BaseServerInterceptingCall.prototype.serializeMessage = function spy(this: unknown, value: unknown) {
      const output = wrapped.call(this, value);
      serialized.push({ value, output });
      return output;
    };
    const clients: XdsTestClient[] = [];
    cleanups.push(() => {
      BaseServerInterceptingCall.prototype.serializeMessage = wrapped;
      for (const client of clients) client.close();
      void server.stop();
    });

    const sotw = new XdsTestClient(port, 'sotw');
    const delta = new XdsTestClient(port, 'delta');
    clients.push(sotw, delta);
    sotw.send({ node: ENVOY_NODE, type_url: CLUSTER });
    const clusters = await sotw.next();
    const clusterNames = names(clusters);
    expect(clusterNames).toHaveLength(200);
    sotw.send({ type_url: ENDPOINT, resource_names: clusterNames });
    expect(names(await sotw.next())).toEqual(clusterNames);
    delta.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names_subscribe: clusterNames });
    expect(names(await delta.next()).sort()).toEqual([...clusterNames].sort());

    expect(serialized).toHaveLength(3);
    for (const { value, output } of serialized) {
      expect(Buffer.isBuffer(value)).toBe(true);
      expect(output).toBe(framedResponse(value as Buffer));
      expect(output.buffer).toBe((value as Buffer).buffer);
      expect(output.subarray(5).equals(value as Buffer)).toBe(true);
    }
  });

  it('a grpc-js whose server call looks different is left alone', () => {
    class NoSerializer {
      sendMessage() {}
    }
    class InlinedSerializer {
      serializeMessage(value: Buffer) {
        return value;
      }
      sendMessage(value: Buffer) {
        return Buffer.concat([Buffer.alloc(5), value]);
      }
    }
    class CompressingSerializer {
      serializeMessage(value: Buffer) {
        return Buffer.concat([Buffer.from([1, 0, 0, 0, value.length]), value]);
      }
      sendMessage(value: Buffer) {
        return this.serializeMessage(value);
      }
    }
    for (const shape of [NoSerializer, InlinedSerializer, CompressingSerializer]) {
      const before = (shape.prototype as { serializeMessage?: unknown }).serializeMessage;
      expect(installPreFramedSends(shape as unknown as ServerCallClass)).toBe(false);
      expect((shape.prototype as { serializeMessage?: unknown }).serializeMessage).toBe(before);
    }
    expect(installPreFramedSends(undefined)).toBe(false);
  });

  it('installing twice wraps once', () => {
    sendPreFramedResponses();
    const once = BaseServerInterceptingCall.prototype.serializeMessage;
    expect(installPreFramedSends(BaseServerInterceptingCall)).toBe(true);
    sendPreFramedResponses();
    expect(BaseServerInterceptingCall.prototype.serializeMessage).toBe(once);
  });
});
