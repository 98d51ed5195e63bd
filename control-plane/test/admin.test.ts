/** The admin API and `meshcp status` against a running control plane with a real grpc-js xDS client. */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CLUSTER } from '@meshcp/xds-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminServer, type AdminXdsView } from '../src/admin/http.js';
import { SnapshotCache } from '../src/cache/snapshot-cache.js';
import { ControlPlane } from '../src/control-plane.js';
import { Metrics } from '../src/metrics.js';
import { ENVOY_NODE, serviceYaml } from './fixtures.js';
import { XdsTestClient } from './xds-client.js';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'meshcp.js');

describe('admin API', () => {
  let plane: ControlPlane;
  let client: XdsTestClient;
  const get = (path: string) => fetch(`http://127.0.0.1:${plane.adminPort}${path}`);

  beforeAll(async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'meshcp-admin-')), 'mesh.yaml');
    writeFileSync(
      file,
      `${serviceYaml('a', [1001])}---\napiVersion: meshcp.io/v1alpha1\nkind: MeshService\nmetadata: {name: bad, namespace: shop}\nspec: {ports: [{port: 0}]}\n`,
    );
    plane = new ControlPlane({ file, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0' });
    await plane.start();
    client = new XdsTestClient(plane.xdsPort);
    client.send({ node: ENVOY_NODE, type_url: CLUSTER });
    const response = await client.next();
    client.send({ type_url: CLUSTER, version_info: response.version_info, response_nonce: response.nonce });
  });

  afterAll(async () => {
    client.close();
    await plane.stop();
  });

  it('answers health, readiness and Prometheus metrics', async () => {
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(200);
    const metrics = await (await get('/metrics')).text();
    expect(metrics).toMatch(/meshcp_xds_streams\{mode="sotw"\} 1/);
    expect(metrics).toMatch(/meshcp_config_errors 1/);
    expect(metrics).toMatch(/meshcp_xds_responses_total\{type="CDS",mode="sotw"\} 1/);
  });

  it('answers a request target no URL parser accepts with 400, and keeps serving', async () => {
    // Sent raw: fetch would normalise the target. `//[` once threw outside the handler's promise chain and ended the process.
    const raw = (target: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(plane.adminPort, '127.0.0.1', () => socket.end(`GET ${target} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n`));
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (text += chunk));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
    for (const target of ['//[', 'http://[::1', '//a:99999/']) expect((await raw(target)).split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect((await get('/healthz')).status).toBe(200);
  });

  it('lists proxies with their versions, profile and per-type status', async () => {
    await expect
      .poll(async () => {
        const { proxies } = (await (await get('/debug/proxies')).json()) as { proxies: { nodeId: string; types: Record<string, { status: string }> }[] };
        return proxies[0]?.types[CLUSTER]?.status;
      })
      .toBe('SYNCED');
    const { proxies } = (await (await get('/debug/proxies')).json()) as { proxies: Record<string, unknown>[] };
    expect(proxies[0]).toMatchObject({ nodeId: 'node-1', clientKind: 'envoy', version: '1.40.0', profile: 'envoy-1.39+', mode: 'sotw', locality: 'eu/eu-1a/' });
  });

  it('dumps what a proxy gets, and 404s for unknown proxies', async () => {
    const dump = (await (await get('/debug/config_dump?proxy=node-1')).json()) as { resources: Record<string, { name: string }[]> };
    expect(dump.resources.CDS?.map((r) => r.name)).toEqual(['a.shop:8080']);
    expect(dump.resources.LDS?.map((r) => r.name)).toEqual(['outbound:15001']);
    expect((await get('/debug/config_dump?proxy=nobody')).status).toBe(404);
  });

  it('never picks one of two identities that share a node id: 409 with both, and &identity= chooses', async () => {
    const records = [
      { nodeId: 'web-1', identity: 'spiffe://cluster.local/ns/shop/sa/web' },
      { nodeId: 'web-1', identity: 'spiffe://cluster.local/ns/evil/sa/attacker' },
    ] as unknown as ReturnType<AdminXdsView['connections']>;
    const admin = new AdminServer({
      cache: new SnapshotCache(new Metrics()),
      xds: { connections: () => records, viewOf: () => undefined, certificateStatus: () => [] },
      metrics: new Metrics(),
      configErrors: () => [],
      sourcesSynced: () => true,
    });
    const port = await admin.start('127.0.0.1', 0);
    try {
      const shared = await fetch(`http://127.0.0.1:${port}/debug/config_dump?proxy=web-1`);
      expect(shared.status).toBe(409);
      expect(((await shared.json()) as { identities: string[] }).identities).toEqual([records[0]?.identity, records[1]?.identity]);
      // The chosen record is found (it has not identified itself in this stub, hence that 404).
      const chosen = await fetch(`http://127.0.0.1:${port}/debug/config_dump?proxy=web-1&identity=${encodeURIComponent(records[0]?.identity ?? '')}`);
      expect(((await chosen.json()) as { error: string }).error).toBe('proxy has not identified itself yet');
      expect((await fetch(`http://127.0.0.1:${port}/debug/config_dump?proxy=web-1&identity=nobody`)).status).toBe(404);
    } finally {
      await admin.stop();
    }
  });

  it('reports rejected objects with file, object and field path', async () => {
    const { configErrors } = (await (await get('/debug/errors')).json()) as { configErrors: { object: string; path: string; message: string }[] };
    expect(configErrors).toEqual([expect.objectContaining({ object: 'MeshService shop/bad', path: 'spec.ports[0].port', message: 'must be 1-65535, got 0' })]);
  });

  it('`meshcp status` prints the proxies table', async () => {
    // Asynchronously: the admin server it asks lives in this process.
    const run = await promisify(execFile)(process.execPath, [BIN, 'status', '--admin-address', `127.0.0.1:${plane.adminPort}`], { encoding: 'utf8' });
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NODE\s+VERSION\s+PROFILE\s+MODE\s+CDS\s+EDS\s+LDS\s+RDS\s+SDS\s+DEGRADED\s+IDENTITY\s+CERT EXPIRES\s+TRUST BUNDLE$/);
    // An --insecure plane: no certificate to show.
    expect(lines[1]).toMatch(/^node-1\s+1\.40\.0\s+envoy-1\.39\+\s+sotw\s+SYNCED\s+-\s+-\s+-\s+-\s+-\s+unauthenticated\s+-\s+-$/);
  });

  it('shows a resource the snapshot builder refused, and why, at /debug/errors and in the metric', async () => {
    plane.cache.setResourceHook((typeUrl, resources) => (typeUrl === CLUSTER ? resources.map((c) => ({ ...c, connect_timeout: '0s' })) : resources));
    try {
      await expect
        .poll(
          async () =>
            ((await (await get('/debug/errors')).json()) as { rejectedResources: { name: string; reason: string; keeping?: string }[] }).rejectedResources,
        )
        .toEqual([expect.objectContaining({ name: 'a.shop:8080', reason: 'validation', keeping: expect.any(String) })]);
      expect(await (await get('/metrics')).text()).toMatch(/meshcp_resources_rejected_total\{type="CDS",reason="validation"\} [1-9]/);
    } finally {
      plane.cache.setResourceHook(undefined);
    }
  });
});
