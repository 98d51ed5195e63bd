/**
 * `meshcp serve --workers 2`: xDS served by two worker processes sharing the port,
 * with real Envoys and grpc-js ADS clients on their own connections (the primary
 * spreads connections over the workers). Every proxy syncs and routes; clients of the
 * same variant get the same content-hash version whichever worker serves them; the
 * primary's /debug/proxies and /metrics count every stream of both workers; a change
 * reaches all of them.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLUSTER } from '@meshcp/xds-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENVOY_NODE } from '../../control-plane/test/fixtures.js';
import { names, XdsTestClient } from '../../control-plane/test/xds-client.js';
import { Cleanup, type EnvoyProcess, type MeshcpProcess, meshYaml, startEnvoy, startMeshcp, startUpstream, tempDir, waitFor } from '../src/harness.js';

const GRPC_CLIENTS = 6;

interface ProxyJson {
  nodeId: string;
  types: Record<string, { short: string; status: string; sentVersion: string | null }>;
}

/** A CDS client that ACKs every response and keeps the last version and cluster names. */
class CdsClient {
  readonly client: XdsTestClient;
  version?: string;
  clusters: string[] = [];
  private closed = false;

  constructor(port: number, id: string) {
    this.client = new XdsTestClient(port, 'sotw', undefined, { ownConnection: true });
    this.client.send({ node: { ...ENVOY_NODE, id }, type_url: CLUSTER });
    void this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      const response = await this.client.next(120_000).catch(() => undefined);
      if (!response) return;
      this.version = response.version_info;
      this.clusters = names(response);
      this.client.send({ type_url: CLUSTER, version_info: response.version_info, response_nonce: response.nonce });
    }
  }

  close(): void {
    this.closed = true;
    this.client.close();
  }
}

describe('meshcp serve --workers 2 with real Envoys and grpc-js clients', () => {
  const cleanup = new Cleanup();
  let meshcp: MeshcpProcess;
  let file: string;
  const envoys: EnvoyProcess[] = [];
  const clients: CdsClient[] = [];
  let upstreams: { a: number; b: number };

  const proxies = async () => ((await (await meshcp.admin('/debug/proxies')).json()) as { proxies: ProxyJson[] }).proxies;
  const synced = (p: ProxyJson) => Object.values(p.types).length > 0 && Object.values(p.types).every((t) => t.status === 'SYNCED');

  beforeAll(async () => {
    upstreams = { a: (await startUpstream('a-1', cleanup)).port, b: (await startUpstream('b-1', cleanup)).port };
    file = join(tempDir('workers', cleanup), 'mesh.yaml');
    writeFileSync(file, meshYaml([{ name: 'a', endpoints: [{ port: upstreams.a }] }]));
    meshcp = await startMeshcp(file, cleanup, undefined, ['--insecure', '--workers', '2']);
    for (let i = 0; i < 2; i++) envoys.push(await startEnvoy({ xdsPort: meshcp.xdsPort, nodeId: `envoy-${i}` }, cleanup));
    for (let i = 0; i < GRPC_CLIENTS; i++) clients.push(new CdsClient(meshcp.xdsPort, `grpc-${i}`));
    cleanup.add(() => {
      for (const client of clients) client.close();
    });
  }, 120_000);

  afterAll(() => cleanup.run());

  it('every proxy syncs, Envoys route, and clients of one variant hold one version', async () => {
    await waitFor('every proxy SYNCED', async () => ((await proxies()).filter(synced).length === 2 + GRPC_CLIENTS ? true : undefined));
    for (const envoy of envoys) await waitFor('Envoy routes to a', async () => ((await envoy.request('a')).body === 'a-1' ? true : undefined));
    expect(new Set(clients.map((c) => c.version)).size).toBe(1);
    expect(clients[0]?.clusters).toContain('a.shop:8080');
  });

  it("the primary's /metrics sums both workers' streams", async () => {
    const text = await (await meshcp.admin('/metrics')).text();
    expect(Number(/meshcp_proxy_streams\{state="SYNCED"\} (\d+)/.exec(text)?.[1])).toBe(2 + GRPC_CLIENTS);
    // Two Envoys (ADS) and six grpc-js clients, one stream each, SotW.
    expect(Number(/meshcp_xds_streams\{mode="sotw"\} (\d+)/.exec(text)?.[1])).toBe(2 + GRPC_CLIENTS);
  });

  it('a change reaches every proxy on both workers, at one version', async () => {
    const before = clients[0]?.version;
    writeFileSync(
      file,
      meshYaml([
        { name: 'a', endpoints: [{ port: upstreams.a }] },
        { name: 'b', endpoints: [{ port: upstreams.b }] },
      ]),
    );
    await waitFor('every grpc-js client has b', async () => (clients.every((c) => c.clusters.includes('b.shop:8080')) ? true : undefined));
    expect(clients[0]?.version).not.toBe(before);
    expect(new Set(clients.map((c) => c.version)).size).toBe(1);
    for (const envoy of envoys) await waitFor('Envoy routes to b', async () => ((await envoy.request('b')).body === 'b-1' ? true : undefined));
    await waitFor('every proxy SYNCED again', async () => ((await proxies()).filter(synced).length === 2 + GRPC_CLIENTS ? true : undefined));
  });
});
