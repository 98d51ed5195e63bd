/**
 * Cross-language through meshcp, no sidecar on either side: a Go client
 * (grpc-go) calls a Python server (grpcio) and a Java client (grpc-java) calls a
 * Go server, each client resolving `xds:///…` from meshcp with a
 * `meshcp bootstrap --grpc` bootstrap. Real programs from their own registries
 * (compat-matrix/clients, built once and cached).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup, GrpcClientProcess, installClient, startServer, tempDir } from '@meshcp/compat-matrix';
import { grpcBootstrap } from 'meshcp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlane, type TestPlane } from '../src/plane.js';

const GO = { implementation: 'grpc-go', version: '1.85.0' } as const;
const PYTHON = { implementation: 'grpcio', version: '1.85.1' } as const;
const JAVA = { implementation: 'grpc-java', version: '1.85.1' } as const;

function service(name: string, port: number): string {
  return `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: ${name}, namespace: shop}
spec:
  ports: [{name: grpc, port: 50051, protocol: GRPC}]
  endpoints: [{address: 127.0.0.1, port: ${port}, locality: {region: eu, zone: eu-1a}}]
`;
}

describe('cross-language proxyless gRPC through meshcp', () => {
  const cleanup = new Cleanup();
  let test: TestPlane;
  let dir: string;
  const launchers: Record<string, string> = {};

  beforeAll(async () => {
    dir = tempDir('cross-language', cleanup);
    // Built or installed once from the Go module proxy, PyPI and Maven Central, then cached.
    launchers.go = await installClient(GO);
    launchers.python = await installClient(PYTHON);
    launchers.java = await installClient(JAVA);
    const python = await startServer(launchers.python, 'python-server', cleanup);
    const go = await startServer(launchers.go, 'go-server', cleanup);
    test = await startPlane(`${service('py-echo', python.port)}---\n${service('go-echo', go.port)}`, cleanup);
  }, 20 * 60_000);

  afterAll(() => cleanup.run());

  function client(launcher: string, nodeId: string, target: string): GrpcClientProcess {
    const bootstrap = join(dir, `${nodeId}.json`);
    writeFileSync(
      bootstrap,
      JSON.stringify(grpcBootstrap({ nodeId, service: 'web', namespace: 'shop', region: 'eu', zone: 'eu-1a', xdsAddress: `127.0.0.1:${test.plane.xdsPort}` })),
    );
    return new GrpcClientProcess(launcher, target, bootstrap, join(dir, `${nodeId}.log`), cleanup);
  }

  async function firstSuccess(c: GrpcClientProcess): Promise<string> {
    let last = '';
    for (const deadline = Date.now() + 45_000; Date.now() < deadline; ) {
      const r = await c.one(3000);
      if (r.ok) return r.backend as string;
      last = `${r.code}: ${r.message}`;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`no RPC succeeded; last: ${last}`);
  }

  it('a Go client calls a Python server, and a Java client calls a Go server', async () => {
    const goClient = client(launchers.go as string, 'go-client', 'xds:///py-echo.shop:50051');
    const javaClient = client(launchers.java as string, 'java-client', 'xds:///go-echo.shop:50051');
    const [fromGo, fromJava] = await Promise.all([firstSuccess(goClient), firstSuccess(javaClient)]);
    expect(fromGo).toBe('python-server');
    expect(fromJava).toBe('go-server');
    const [goRpcs, javaRpcs] = await Promise.all([goClient.call(20), javaClient.call(20)]);
    expect(goRpcs.map((r) => r.backend)).toEqual(Array(20).fill('python-server'));
    expect(javaRpcs.map((r) => r.backend)).toEqual(Array(20).fill('go-server'));
    // Both clients are known to meshcp by kind and version, every type SYNCED.
    for (const [nodeId, kind] of [
      ['go-client', 'grpc-go'],
      ['java-client', 'grpc-java'],
    ] as const) {
      const types = await test.types(nodeId);
      expect(Object.keys(types).sort()).toEqual(['CDS', 'EDS', 'LDS', 'RDS']);
      for (const t of Object.values(types)) expect(t.status, nodeId).toBe('SYNCED');
      const { proxies } = (await (await fetch(`http://127.0.0.1:${test.plane.adminPort}/debug/proxies`)).json()) as {
        proxies: { nodeId: string; clientKind: string; degraded: string[] }[];
      };
      const record = proxies.find((p) => p.nodeId === nodeId);
      expect(record?.clientKind).toBe(kind);
      expect(record?.degraded).toEqual([]);
    }
  }, 120_000);
});
