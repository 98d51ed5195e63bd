/**
 * Issue 11 §6 for proxyless gRPC in the other languages: a rule whose backends all
 * weigh 0 fails its RPCs (Envoy answers 500). Real grpc-go, grpc-java and grpcio
 * (C-core) clients (compat-matrix/clients, built once and cached) call two
 * counting backends in this process: with the weights at 0 every RPC fails
 * UNAVAILABLE, neither backend sees one, and no client NACKs; with a weight back,
 * the same channels are served again.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup, GrpcClientProcess, installClient, type RpcResult, tempDir, waitFor } from '@meshcp/compat-matrix';
import { grpcBootstrap } from '@meshcp/translators';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countingBackend } from '../src/grpc-backend.js';
import { startPlane, type TestPlane } from '../src/plane.js';

const CLIENTS = [
  { implementation: 'grpc-go', version: '1.85.0' },
  { implementation: 'grpc-java', version: '1.85.1' },
  { implementation: 'grpcio', version: '1.85.1' },
] as const;
const UNAVAILABLE = 14;
const outcome = (r: RpcResult) => (r.ok ? `OK from ${r.backend}` : `code ${r.code}: ${r.message}`);

function mesh(v1: number, v2: number, weights: [number, number]): string {
  const service = (name: string, port: number) => `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: ${name}, namespace: shop}
spec:
  ports: [{name: grpc, port: 50051, protocol: GRPC}]
  endpoints: [{address: 127.0.0.1, port: ${port}, locality: {region: eu, zone: eu-1a}}]
`;
  return `${service('echo', v1)}---\n${service('echo-v2', v2)}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: echo-split, namespace: shop}
spec:
  parentRefs: [{name: echo}]
  rules:
    - matches: [{path: {type: PathPrefix, value: /meshcp.test.Echo}}]
      backendRefs: [{name: echo, port: 50051, weight: ${weights[0]}}, {name: echo-v2, port: 50051, weight: ${weights[1]}}]
`;
}

describe('a route with every backend at weight 0 fails RPCs in every gRPC language', () => {
  const cleanup = new Cleanup();
  let test: TestPlane;
  let v1: Awaited<ReturnType<typeof countingBackend>>;
  let v2: Awaited<ReturnType<typeof countingBackend>>;
  const clients: { nodeId: string; process: GrpcClientProcess }[] = [];

  beforeAll(async () => {
    const dir = tempDir('grpc-zero-weight', cleanup);
    const launchers = await Promise.all(CLIENTS.map((c) => installClient(c)));
    v1 = await countingBackend('echo-v1', cleanup);
    v2 = await countingBackend('echo-v2', cleanup);
    test = await startPlane(mesh(v1.port, v2.port, [100, 0]), cleanup);
    CLIENTS.forEach((c, i) => {
      const nodeId = `${c.implementation}-client`;
      const bootstrap = join(dir, `${nodeId}.json`);
      writeFileSync(
        bootstrap,
        JSON.stringify(
          grpcBootstrap({ nodeId, service: 'web', namespace: 'shop', region: 'eu', zone: 'eu-1a', xdsAddress: `127.0.0.1:${test.plane.xdsPort}` }),
        ),
      );
      clients.push({
        nodeId,
        process: new GrpcClientProcess(launchers[i] as string, 'xds:///echo.shop:50051', bootstrap, join(dir, `${nodeId}.log`), cleanup),
      });
    });
  }, 20 * 60_000);
  afterAll(() => cleanup.run());

  it('UNAVAILABLE for every RPC, no backend reached, no NACK; served again when a weight comes back', async () => {
    for (const { nodeId, process } of clients)
      await waitFor(`${nodeId} to reach echo-v1`, async () => (await process.one(3000)).backend === 'echo-v1', 60_000, 200);

    test.write(mesh(v1.port, v2.port, [0, 0]));
    for (const { nodeId, process } of clients)
      await waitFor(`${nodeId}'s RPCs to fail`, async () => (await process.one(3000)).code === UNAVAILABLE, 30_000, 100);
    const before = v1.calls() + v2.calls();
    for (const { nodeId, process } of clients) {
      const rpcs = await process.call(20, 3000);
      expect(
        rpcs.map((r) => r.code),
        `${nodeId}: ${rpcs.map(outcome).slice(0, 2).join('; ')}`,
      ).toEqual(Array(20).fill(UNAVAILABLE));
      console.log(`${nodeId} with every weight 0: ${outcome(rpcs[0] as RpcResult)}`);
    }
    expect(v1.calls() + v2.calls()).toBe(before);
    // Accepted by every client (a NACK would have kept the previous, serving routes).
    for (const { nodeId } of clients) {
      const types = await test.types(nodeId);
      for (const [type, t] of Object.entries(types)) expect(t.status, `${nodeId} ${type}`).not.toBe('NACKED');
    }

    test.write(mesh(v1.port, v2.port, [0, 100]));
    for (const { nodeId, process } of clients)
      await waitFor(`${nodeId} to reach echo-v2`, async () => (await process.one(3000)).backend === 'echo-v2', 30_000, 100);
  }, 180_000);
});
