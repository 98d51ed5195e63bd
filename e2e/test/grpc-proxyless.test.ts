/**
 * Proxyless gRPC: a real @grpc/grpc-js-xds client resolves `xds:///echo.shop:PORT`
 * through meshcp (LDS → RDS → CDS → EDS) and its RPCs reach the right backends,
 * including a weighted split counted from the backends' own counters, and a route
 * whose backends all weigh 0 failing its RPCs without reaching any backend.
 */
import * as grpc from '@grpc/grpc-js';
import { grpcBootstrap } from '@meshcp/translators';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup, waitFor } from '../src/harness.js';
import { startPlane, type TestPlane } from '../src/plane.js';

const METHOD = '/meshcp.test.Echo/Say';
const identity = (b: Buffer) => b;

interface Backend {
  name: string;
  port: number;
  calls: number;
}

async function startBackend(name: string, cleanup: Cleanup): Promise<Backend> {
  const server = new grpc.Server();
  const backend: Backend = { name, port: 0, calls: 0 };
  server.addService(
    {
      Say: {
        path: METHOD,
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    {
      Say: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        backend.calls++;
        callback(null, Buffer.from(name));
      },
    },
  );
  backend.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  cleanup.add(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
  return backend;
}

function say(client: grpc.Client): Promise<string> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(METHOD, identity, identity, Buffer.from('hi'), { deadline: Date.now() + 5000 }, (error, value) =>
      error ? reject(error) : resolve(String(value)),
    );
  });
}

function mesh(v1: Backend, v2: Backend, weights?: [number, number]): string {
  const service = (name: string, b: Backend) => `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: ${name}, namespace: shop}
spec:
  ports: [{name: grpc, port: 50051, protocol: GRPC}]
  endpoints: [{address: 127.0.0.1, port: ${b.port}, locality: {region: eu, zone: eu-1a}}]
`;
  const split = weights
    ? `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: echo-split, namespace: shop}
spec:
  parentRefs: [{name: echo}]
  rules:
    - matches: [{path: {type: PathPrefix, value: /meshcp.test.Echo}}]
      backendRefs: [{name: echo, port: 50051, weight: ${weights[0]}}, {name: echo-v2, port: 50051, weight: ${weights[1]}}]
`
    : '';
  return `${service('echo', v1)}---\n${service('echo-v2', v2)}${split}`;
}

describe('proxyless gRPC via @grpc/grpc-js-xds', () => {
  const cleanup = new Cleanup();
  let test: TestPlane;
  let v1: Backend;
  let v2: Backend;
  let client: grpc.Client;

  beforeAll(async () => {
    v1 = await startBackend('echo-v1', cleanup);
    v2 = await startBackend('echo-v2', cleanup);
    test = await startPlane(mesh(v1, v2), cleanup);
    // The xDS client reads its bootstrap when the first xds:/// channel is made.
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify(
      grpcBootstrap({ nodeId: 'grpc-client', service: 'web', namespace: 'shop', region: 'eu', zone: 'eu-1a', xdsAddress: `127.0.0.1:${test.plane.xdsPort}` }),
    );
    const xds = await import('@grpc/grpc-js-xds');
    xds.register();
    client = new grpc.Client('xds:///echo.shop:50051', grpc.credentials.createInsecure());
    cleanup.add(() => client.close());
  });

  afterAll(() => cleanup.run());

  it('resolves the service through meshcp and reaches its backend', async () => {
    expect(await say(client)).toBe('echo-v1');
    const { proxies } = (await (await fetch(`http://127.0.0.1:${test.plane.adminPort}/debug/proxies`)).json()) as {
      proxies: { nodeId: string; clientKind: string; version: string; types: Record<string, { short: string; status: string }> }[];
    };
    const proxy = proxies.find((p) => p.nodeId === 'grpc-client');
    expect(proxy?.clientKind).toBe('grpc-node');
    expect(proxy?.version).toMatch(/^1\.\d+\.\d+$/);
    expect(
      Object.values(proxy?.types ?? {})
        .map((t) => `${t.short}:${t.status}`)
        .sort(),
    ).toEqual(['CDS:SYNCED', 'EDS:SYNCED', 'LDS:SYNCED', 'RDS:SYNCED']);
  });

  it('follows a 75/25 weighted split (400 RPCs, v2 share within 70-130)', async () => {
    test.write(mesh(v1, v2, [75, 25]));
    await waitFor('the split to reach echo-v2', async () => (await say(client)) === 'echo-v2', 20_000, 20);
    const before = { v1: v1.calls, v2: v2.calls };
    for (let i = 0; i < 400; i++) await say(client);
    const got = { v1: v1.calls - before.v1, v2: v2.calls - before.v2 };
    // Binomial(400, 0.25): mean 100, standard deviation 8.7; ±30 is about 3.5 sd.
    expect(got.v1 + got.v2).toBe(400);
    expect(got.v2).toBeGreaterThanOrEqual(70);
    expect(got.v2).toBeLessThanOrEqual(130);
  });

  it('moves to the other backend when the route sends everything there', async () => {
    test.write(mesh(v1, v2, [0, 100]));
    await waitFor('all RPCs to go to echo-v2', async () => {
      const answers = await Promise.all(Array.from({ length: 10 }, () => say(client)));
      return answers.every((a) => a === 'echo-v2');
    });
  });

  it('fails every RPC UNAVAILABLE, reaching no backend, when the route weighs every backend 0', async () => {
    test.write(mesh(v1, v2, [0, 0]));
    const code = async () =>
      say(client).then(
        () => grpc.status.OK,
        (error: grpc.ServiceError) => error.code,
      );
    await waitFor('RPCs to fail', async () => (await code()) === grpc.status.UNAVAILABLE, 20_000, 20);
    const before = v1.calls + v2.calls;
    const codes = await Promise.all(Array.from({ length: 50 }, code));
    expect(codes).toEqual(Array(50).fill(grpc.status.UNAVAILABLE));
    expect(v1.calls + v2.calls).toBe(before);
    // Accepted, not NACKed: a NACK would have kept the previous routes serving.
    await waitFor('every type SYNCED (no NACK)', async () => {
      const { proxies } = (await (await fetch(`http://127.0.0.1:${test.plane.adminPort}/debug/proxies`)).json()) as {
        proxies: { nodeId: string; types: Record<string, { short: string; status: string }> }[];
      };
      const types = Object.values(proxies.find((p) => p.nodeId === 'grpc-client')?.types ?? {});
      if (types.some((t) => t.status === 'NACKED')) throw new Error(`NACKED: ${JSON.stringify(types)}`);
      return types.length === 4 && types.every((t) => t.status === 'SYNCED');
    });
    // Weights back: the same client is served again (the abort was the route's, not a broken channel).
    test.write(mesh(v1, v2, [100, 0]));
    await waitFor('RPCs to reach echo-v1 again', async () => (await code()) === grpc.status.OK, 20_000, 20);
  });
});
