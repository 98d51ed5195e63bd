/**
 * The fallback of grpc-pre-framed.ts: a grpc-js whose server call no longer looks as
 * expected (here: `sendMessage` no longer calls `this.serializeMessage` itself) is not
 * wrapped, and an XdsServer still serves every response correctly, framed by grpc-js
 * from the message bytes (one copy, as before the change). Its own file, so that the
 * process never had the wrapper installed (vitest runs each file in a process of its own).
 */
import { createRequire } from 'node:module';
import { CLUSTER, ENDPOINT } from '@meshcp/xds-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics, SnapshotCache, XdsServer } from '../src/index.js';
import { type ServerCallClass, sendsPreFramed } from '../src/xds/grpc-pre-framed.js';
import { ENVOY_NODE, mesh, serviceYaml } from './fixtures.js';
import { names, XdsTestClient } from './xds-client.js';

const { BaseServerInterceptingCall } = createRequire(import.meta.url)('@grpc/grpc-js/build/src/server-interceptors.js') as {
  BaseServerInterceptingCall: ServerCallClass;
};

describe('pre-framed responses without the wrapper (grpc-js reshaped)', () => {
  const proto = BaseServerInterceptingCall.prototype;
  const { sendMessage, serializeMessage } = proto;
  const serialized: { value: unknown; output: Buffer }[] = [];
  let server: XdsServer;
  let port: number;

  beforeAll(async () => {
    // Guard: this process must start without the wrapper, or the test below proves nothing.
    expect(sendsPreFramed()).toBe(false);
    // A reshaped grpc-js: sending goes through another function than the one checked.
    proto.sendMessage = function reshapedSendMessage(this: unknown, value: unknown, callback: () => void) {
      return sendMessage.call(this, value, callback);
    };
    proto.serializeMessage = function spy(this: unknown, value: unknown) {
      const output = serializeMessage.call(this, value);
      serialized.push({ value, output });
      return output;
    };
    const metrics = new Metrics();
    const cache = new SnapshotCache(metrics);
    cache.setModel(mesh(...Array.from({ length: 200 }, (_, i) => serviceYaml(`svc-${i}`, [1000 + i, 2000 + i]))));
    server = new XdsServer(cache, metrics);
    port = await server.start('127.0.0.1:0');
  });

  afterAll(async () => {
    proto.sendMessage = sendMessage;
    proto.serializeMessage = serializeMessage;
    await server?.stop();
  });

  it('is not installed, and SotW and Delta responses arrive intact, framed by grpc-js', async () => {
    expect(sendsPreFramed()).toBe(false);
    const sotw = new XdsTestClient(port, 'sotw');
    const delta = new XdsTestClient(port, 'delta');
    try {
      sotw.send({ node: ENVOY_NODE, type_url: CLUSTER });
      const clusterNames = names(await sotw.next());
      expect(clusterNames).toHaveLength(200);
      sotw.send({ type_url: ENDPOINT, resource_names: clusterNames });
      expect(names(await sotw.next())).toEqual(clusterNames);
      delta.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names_subscribe: clusterNames });
      expect(names(await delta.next()).sort()).toEqual([...clusterNames].sort());
    } finally {
      sotw.close();
      delta.close();
    }
    expect(serialized).toHaveLength(3);
    for (const { value, output } of serialized) {
      // grpc-js's own framing: header + a copy of the message bytes (no header of ours in them).
      const bytes = value as Buffer;
      // (Small Buffers share Node's allocation pool, so compare where they are, not only which ArrayBuffer.)
      const sameMemory = output.buffer === bytes.buffer && output.byteOffset + 5 === bytes.byteOffset;
      expect(sameMemory).toBe(false);
      expect([output[0], output.readUInt32BE(1)]).toEqual([0, bytes.length]);
      expect(output.subarray(5).equals(bytes)).toBe(true);
    }
  });
});
