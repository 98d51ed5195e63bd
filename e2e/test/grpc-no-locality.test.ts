/**
 * Endpoints without a locality (a file-source service that names none, a cluster
 * whose nodes carry no topology labels) reach every proxyless gRPC language: grpc-go
 * refuses an EDS group with no Locality message ("locality without ID"), so each
 * group carries one, empty when the endpoints have none. Real grpc-go, grpc-java and
 * grpcio clients, no locality on the client either; no NACK, every RPC served.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup, GrpcClientProcess, installClient, tempDir, waitFor } from '@meshcp/compat-matrix';
import { grpcBootstrap } from '@meshcp/translators';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countingBackend } from '../src/grpc-backend.js';
import { startPlane, type TestPlane } from '../src/plane.js';

const CLIENTS = [
  { implementation: 'grpc-go', version: '1.85.0' },
  { implementation: 'grpc-java', version: '1.85.1' },
  { implementation: 'grpcio', version: '1.85.1' },
] as const;

const mesh = (port: number) => `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: echo, namespace: shop}
spec:
  ports: [{name: grpc, port: 50051, protocol: GRPC}]
  endpoints: [{address: 127.0.0.1, port: ${port}}]
`;

describe('endpoints without a locality, proxyless gRPC in every language', () => {
  const cleanup = new Cleanup();
  let test: TestPlane;
  let backend: Awaited<ReturnType<typeof countingBackend>>;
  const clients: { nodeId: string; process: GrpcClientProcess }[] = [];

  beforeAll(async () => {
    const dir = tempDir('grpc-no-locality', cleanup);
    const launchers = await Promise.all(CLIENTS.map((c) => installClient(c)));
    backend = await countingBackend('echo', cleanup);
    test = await startPlane(mesh(backend.port), cleanup);
    CLIENTS.forEach((c, i) => {
      const nodeId = `${c.implementation}-client`;
      const bootstrap = join(dir, `${nodeId}.json`);
      writeFileSync(bootstrap, JSON.stringify(grpcBootstrap({ nodeId, service: 'web', namespace: 'shop', xdsAddress: `127.0.0.1:${test.plane.xdsPort}` })));
      clients.push({
        nodeId,
        process: new GrpcClientProcess(launchers[i] as string, 'xds:///echo.shop:50051', bootstrap, join(dir, `${nodeId}.log`), cleanup),
      });
    });
  }, 20 * 60_000);
  afterAll(() => cleanup.run());

  it('every client is served and ACKs the endpoints', async () => {
    for (const { nodeId, process } of clients) {
      await waitFor(`${nodeId} to reach echo`, async () => (await process.one(3000)).backend === 'echo', 60_000, 200);
      const rpcs = await process.call(10, 3000);
      expect(rpcs.map((r) => r.backend ?? `code ${r.code}: ${r.message}`)).toEqual(Array(10).fill('echo'));
      const types = await test.types(nodeId);
      for (const [type, t] of Object.entries(types)) expect(t.status, `${nodeId} ${type}`).toBe('SYNCED');
    }
    expect(backend.calls()).toBeGreaterThanOrEqual(30);
  }, 180_000);
});
