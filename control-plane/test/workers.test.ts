/**
 * Serving from every core: a control plane with two xDS worker processes sharing the
 * port, real grpc-js ADS clients (each on its own connection, so the primary spreads
 * them over both workers). Every client gets the same content-hash versions whichever
 * worker serves it; the primary's /debug/proxies and /metrics count the streams of
 * both workers; a change reaches every client.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLUSTER, ENDPOINT } from '@meshcp/xds-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../src/control-plane.js';
import { WORKER_MAIN } from '../src/xds/workers.js';
import { workerExecArgv } from '../src/xds/young-generation.js';
import { fetchClientStatus } from './csds-client.js';
import { ENVOY_NODE, serviceYaml } from './fixtures.js';
import { parseSamples, sampleValue } from './support/prometheus-text.js';
import { names, XdsTestClient } from './xds-client.js';

const CLIENTS = 8;

interface Synced {
  client: XdsTestClient;
  cds?: string;
  eds?: string;
  edsNonce?: string;
}

/** Reads a CDS response, ACKs it, asks for its clusters' endpoints (as Envoy does), reads and ACKs them. */
async function syncOnce(entry: Synced): Promise<void> {
  const { client } = entry;
  const cds = await client.next(10_000);
  expect(cds.type_url).toBe(CLUSTER);
  entry.cds = cds.version_info;
  client.send({ type_url: CLUSTER, version_info: cds.version_info, response_nonce: cds.nonce });
  client.send({ type_url: ENDPOINT, resource_names: names(cds), version_info: entry.eds ?? '', response_nonce: entry.edsNonce ?? '' });
  const eds = await client.next(10_000);
  expect(eds.type_url).toBe(ENDPOINT);
  entry.eds = eds.version_info;
  entry.edsNonce = eds.nonce;
  client.send({ type_url: ENDPOINT, resource_names: names(cds), version_info: eds.version_info, response_nonce: eds.nonce });
}

describe('xDS served by two worker processes', () => {
  let plane: ControlPlane;
  let file: string;
  const clients: Synced[] = [];
  const admin = (path: string) => fetch(`http://127.0.0.1:${plane.adminPort}${path}`);

  beforeAll(async () => {
    file = join(mkdtempSync(join(tmpdir(), 'meshcp-workers-')), 'mesh.yaml');
    writeFileSync(file, serviceYaml('a', [1001]));
    plane = new ControlPlane({
      file,
      xdsAddress: '127.0.0.1:0',
      adminAddress: '127.0.0.1:0',
      debounceQuietMs: 20,
      debounceMaxMs: 200,
      workers: { count: 2, exec: WORKER_MAIN },
    });
    await plane.start();
  }, 30_000);

  afterAll(async () => {
    for (const { client } of clients) client.close();
    await plane?.stop();
  });

  it('serves every client the same versions from whichever worker it lands on', async () => {
    for (let i = 0; i < CLIENTS; i++) {
      const client = new XdsTestClient(plane.xdsPort, 'sotw', undefined, { ownConnection: true });
      // Half of them in another zone: a second endpoint variant.
      const node = { ...ENVOY_NODE, id: `worker-client-${i}`, ...(i % 2 ? { locality: { region: 'eu', zone: 'eu-1b' } } : {}) };
      client.send({ node, type_url: CLUSTER });
      clients.push({ client });
    }
    for (const entry of clients) await syncOnce(entry);
    expect(new Set(clients.map((c) => c.cds)).size).toBe(1);
    // Same zone, same EDS version, whichever worker.
    expect(new Set(clients.filter((_, i) => i % 2 === 0).map((c) => c.eds)).size).toBe(1);
    expect(new Set(clients.filter((_, i) => i % 2 === 1).map((c) => c.eds)).size).toBe(1);
  });

  it('spreads the streams over both workers, and the admin API counts them all', async () => {
    await expect
      .poll(
        async () => {
          const body = (await (await admin('/debug/proxies')).json()) as { proxies: { nodeId: string; types: Record<string, { status: string }> }[] };
          return body.proxies.filter((p) => p.nodeId.startsWith('worker-client-') && Object.values(p.types).every((t) => t.status === 'SYNCED')).length;
        },
        { timeout: 10_000 },
      )
      .toBe(CLIENTS);
    const byWorker = [...(plane.pool?.streamsByWorker().values() ?? [])];
    expect(byWorker).toHaveLength(2);
    // Each worker runs with 16 MiB semi-spaces unless MESHCP_WORKER_SEMI_SPACE_MB or an operator flag says otherwise (young-generation.ts).
    if (!process.env.NODE_OPTIONS?.includes('semi') && process.env.MESHCP_WORKER_SEMI_SPACE_MB === undefined) {
      for (const pid of plane.pool?.streamsByWorker().keys() ?? []) {
        expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain('--max-semi-space-size=16');
      }
    }
    expect(byWorker.reduce((a, b) => a + b, 0)).toBe(CLIENTS);
    const samples = parseSamples(await (await admin('/metrics')).text());
    expect(sampleValue(samples, 'meshcp_proxy_streams', { state: 'SYNCED' })).toBe(CLIENTS);
    expect(sampleValue(samples, 'meshcp_xds_streams', { mode: 'sotw' })).toBe(CLIENTS);
    expect(sampleValue(samples, 'meshcp_xds_acks_total', { type: 'CDS' })).toBeGreaterThanOrEqual(CLIENTS);
  });

  it('a Delta client on a worker gets the same resource versions as the SotW clients', async () => {
    const delta = new XdsTestClient(plane.xdsPort, 'delta', undefined, { ownConnection: true });
    try {
      delta.send({ node: { ...ENVOY_NODE, id: 'worker-delta' }, type_url: CLUSTER });
      const response = await delta.next(10_000);
      const resources = (response as unknown as { resources?: { name: string; version: string }[] }).resources ?? [];
      expect(resources.map((r) => r.name)).toEqual(['a.shop:8080']);
      // The content hash of the cluster is the primary's, whichever worker and mode.
      const csds = await fetchClientStatus(plane.xdsPort, { node_matchers: [{ node_id: { exact: 'worker-client-0' } }] });
      const held = csds.config?.[0]?.generic_xds_configs?.find((c) => c.type_url === CLUSTER && c.name === 'a.shop:8080');
      expect(resources[0]?.version).toMatch(/^\S{8,}$/);
      expect(held?.version_info).toBe(resources[0]?.version);
    } finally {
      delta.close();
    }
  });

  it('CSDS on whichever worker answers for the streams of both', async () => {
    // Each call is a new connection: over a few calls both workers answer.
    for (let i = 0; i < 4; i++) {
      const response = await fetchClientStatus(plane.xdsPort, { node_matchers: [{ node_id: { prefix: 'worker-client-' } }] });
      expect(response.config ?? []).toHaveLength(CLIENTS);
      const eds = (response.config ?? [])[0]?.generic_xds_configs?.filter((c) => c.type_url === ENDPOINT) ?? [];
      expect(eds.length).toBeGreaterThan(0);
    }
  });

  it('a worker that dies is replaced, and new streams sync on the pool at the same version', async () => {
    await plane.pool?.refresh();
    const [pid] = [...(plane.pool?.streamsByWorker().keys() ?? [])];
    expect(pid).toBeDefined();
    process.kill(pid as number, 'SIGKILL');
    await expect
      .poll(
        async () => {
          await plane.pool?.refresh();
          const pids = [...(plane.pool?.streamsByWorker().keys() ?? [])];
          return pids.length === 2 && !pids.includes(pid as number);
        },
        { timeout: 20_000, interval: 200 },
      )
      .toBe(true);
    // The survivors' clients still hold their streams; the dead worker's got an error. Reconnect those.
    await expect.poll(() => clients.filter((c) => c.client.status !== undefined).length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(clients.filter((c) => c.client.status !== undefined).length).toBeLessThan(CLIENTS);
    for (const [i, entry] of clients.entries()) {
      if (entry.client.status === undefined) continue;
      const client = new XdsTestClient(plane.xdsPort, 'sotw', undefined, { ownConnection: true });
      client.send({ node: { ...ENVOY_NODE, id: `worker-client-${i}`, ...(i % 2 ? { locality: { region: 'eu', zone: 'eu-1b' } } : {}) }, type_url: CLUSTER });
      const fresh: Synced = { client };
      await syncOnce(fresh);
      expect(fresh.cds).toBe(entry.cds);
      clients[i] = fresh;
    }
  });

  it('a change reaches every client on both workers, at one version', async () => {
    const before = clients[0]?.cds;
    writeFileSync(file, `${serviceYaml('a', [1001])}---\n${serviceYaml('b', [1002])}`);
    for (const entry of clients) await syncOnce(entry);
    expect(clients[0]?.cds).not.toBe(before);
    expect(new Set(clients.map((c) => c.cds)).size).toBe(1);
  });
});

describe('xDS worker young generation', () => {
  it('is 16 MiB unless MESHCP_WORKER_SEMI_SPACE_MB asks (0: V8 own), and an operator flag wins', () => {
    expect(workerExecArgv(['--enable-source-maps'], {})).toEqual(['--enable-source-maps', '--max-semi-space-size=16']);
    expect(workerExecArgv([], { MESHCP_WORKER_SEMI_SPACE_MB: '' })).toEqual(['--max-semi-space-size=16']);
    expect(workerExecArgv(['--enable-source-maps'], { MESHCP_WORKER_SEMI_SPACE_MB: '4' })).toEqual(['--enable-source-maps', '--max-semi-space-size=4']);
    expect(workerExecArgv(['--max-semi-space-size=16'], { MESHCP_WORKER_SEMI_SPACE_MB: '4' })).toEqual(['--max-semi-space-size=16']);
    expect(workerExecArgv(['--max_semi_space_size=16'], { MESHCP_WORKER_SEMI_SPACE_MB: '4' })).toEqual(['--max_semi_space_size=16']);
    expect(workerExecArgv([], { NODE_OPTIONS: '--max-semi-space-size=32', MESHCP_WORKER_SEMI_SPACE_MB: '4' })).toEqual([]);
    expect(workerExecArgv([], { MESHCP_WORKER_SEMI_SPACE_MB: '0' })).toEqual([]);
    // Not a whole number of MiB up to 1024: the default stays (the pool logs a warning).
    for (const typo of ['lots', '16MB', '-1', '1.5', '0x20', '1e3', '99999'])
      expect(workerExecArgv([], { MESHCP_WORKER_SEMI_SPACE_MB: typo }), typo).toEqual(['--max-semi-space-size=16']);
  });
});
