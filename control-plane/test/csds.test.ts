/** CSDS against a running control plane: real grpc-js xDS clients connect, ACK and NACK; a real grpc-js CSDS client asks. */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { CLUSTER, ENDPOINT } from '@meshcp/xds-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../src/control-plane.js';
import { type ClientStatusResponse, fetchClientStatus, type GenericXdsConfig, streamClientStatus } from './csds-client.js';
import { ENVOY_NODE, serviceYaml } from './fixtures.js';
import { XdsTestClient } from './xds-client.js';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'meshcp.js');
const OLD_ENVOY_NODE = { ...ENVOY_NODE, id: 'node-old', user_agent_build_version: { version: { major_number: 1, minor_number: 36, patch: 2 } } };

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function configsOf(response: ClientStatusResponse, nodeId: string): GenericXdsConfig[] {
  return response.config?.find((c) => c.node?.id === nodeId)?.generic_xds_configs ?? [];
}

describe('CSDS (ClientStatusDiscoveryService)', () => {
  let plane: ControlPlane;
  const clients: XdsTestClient[] = [];

  beforeAll(async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'meshcp-csds-')), 'mesh.yaml');
    writeFileSync(file, `${serviceYaml('a', [1001])}---\n${serviceYaml('b', [1002])}`);
    plane = new ControlPlane({ file, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0' });
    await plane.start();
    // node-1 takes clusters and the endpoints of one of them, and ACKs both.
    const current = new XdsTestClient(plane.xdsPort, 'sotw', undefined, { ownConnection: true });
    clients.push(current);
    current.send({ node: ENVOY_NODE, type_url: CLUSTER });
    const clusters = await current.next();
    current.send({ type_url: CLUSTER, version_info: clusters.version_info, response_nonce: clusters.nonce });
    current.send({ type_url: ENDPOINT, resource_names: ['a.shop:8080'] });
    const endpoints = await current.next();
    current.send({ type_url: ENDPOINT, resource_names: ['a.shop:8080'], version_info: endpoints.version_info, response_nonce: endpoints.nonce });
    // node-old rejects its clusters.
    const old = new XdsTestClient(plane.xdsPort, 'delta', undefined, { ownConnection: true });
    clients.push(old);
    old.send({ node: OLD_ENVOY_NODE, type_url: CLUSTER, resource_names_subscribe: ['*'] });
    const oldClusters = await old.next();
    old.send({ type_url: CLUSTER, response_nonce: oldClusters.nonce, error_detail: { code: 3, message: 'unknown field in cluster' } });
    // Two clusters in one NACKed Delta response: each is re-sent alone, and node-old rejects each.
    for (let probe = 0; probe < 2; probe++) {
      const single = await old.next();
      expect(single.resources).toHaveLength(1);
      old.send({ type_url: CLUSTER, response_nonce: single.nonce, error_detail: { code: 3, message: 'unknown field in cluster' } });
    }
    const record = (id: string) => plane.xds.connections().find((r) => r.nodeId === id);
    await until(() => record('node-old')?.types.get(CLUSTER)?.rejected?.size === 2);
    await until(() => record('node-1')?.types.get(ENDPOINT)?.ackedVersion !== undefined);
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await plane.stop();
  });

  it('FetchClientStatus answers each proxy with its node and per-resource status', async () => {
    const response = await fetchClientStatus(plane.xdsPort);
    expect(response.config?.map((c) => c.node?.id).sort()).toEqual(['node-1', 'node-old']);
    const node1 = response.config?.find((c) => c.node?.id === 'node-1');
    expect(node1?.node).toMatchObject({ user_agent_name: 'envoy', user_agent_build_version: { version: { major_number: 1, minor_number: 40 } } });
    const current = configsOf(response, 'node-1');
    const cds = current.filter((c) => c.type_url === CLUSTER);
    expect(cds.map((c) => c.name).sort()).toEqual(['a.shop:8080', 'b.shop:8080']);
    for (const c of cds) expect(c).toMatchObject({ config_status: 'SYNCED', client_status: 'ACKED', version_info: expect.any(String) });
    // Per-resource versions are the resources' own, not the set's.
    expect(cds[0]?.version_info).not.toBe(cds[1]?.version_info);
    expect(current.filter((c) => c.type_url === ENDPOINT)).toEqual([
      expect.objectContaining({ name: 'a.shop:8080', config_status: 'SYNCED', client_status: 'ACKED' }),
    ]);
    // node-old rejected both clusters before it held any: one NACKED row each, holding nothing.
    const old = configsOf(response, 'node-old');
    expect(old.map((c) => c.name).sort()).toEqual(['a.shop:8080', 'b.shop:8080']);
    for (const c of old) {
      expect(c).toMatchObject({
        type_url: CLUSTER,
        version_info: '',
        config_status: 'ERROR',
        client_status: 'NACKED',
        error_state: expect.objectContaining({ details: 'unknown field in cluster' }),
      });
    }
  });

  it('filters by node id (exact and prefix) and refuses matchers it does not support', async () => {
    expect((await fetchClientStatus(plane.xdsPort, { node_matchers: [{ node_id: { exact: 'node-old' } }] })).config?.map((c) => c.node?.id)).toEqual([
      'node-old',
    ]);
    expect((await fetchClientStatus(plane.xdsPort, { node_matchers: [{ node_id: { prefix: 'node-' } }] })).config).toHaveLength(2);
    await expect(fetchClientStatus(plane.xdsPort, { node_matchers: [{ node_id: { suffix: 'old' } }] })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
    });
    await expect(fetchClientStatus(plane.xdsPort, Buffer.from([0x0a, 0xff, 0xff]))).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  it('StreamClientStatus answers every request on the stream', async () => {
    const responses = await streamClientStatus(plane.xdsPort, [{}, { node_matchers: [{ node_id: { exact: 'node-1' } }] }]);
    expect(responses.map((r) => r.config?.length)).toEqual([2, 1]);
  });

  it('`meshcp status --xds-address` prints each proxy with version, profile and per-type status from CSDS', async () => {
    // Asynchronously: the server it asks lives in this process.
    const run = await promisify(execFile)(process.execPath, [BIN, 'status', '--xds-address', `127.0.0.1:${plane.xdsPort}`], { encoding: 'utf8' });
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NODE\s+VERSION\s+PROFILE\s+MODE\s+CDS\s+EDS\s+LDS\s+RDS\s+SDS$/);
    expect(lines.slice(1).sort()).toEqual([
      expect.stringMatching(/^node-1\s+1\.40\.0\s+envoy-1\.39\+\s+sotw\s+SYNCED\s+SYNCED\s+-\s+-\s+-$/),
      expect.stringMatching(/^node-old\s+1\.36\.2\s+envoy-\S+\s+delta\s+NACKED\s+-\s+-\s+-\s+-$/),
    ]);
    const one = await promisify(execFile)(process.execPath, [BIN, 'status', '--xds-address', `127.0.0.1:${plane.xdsPort}`, '--node-id', 'node-old'], {
      encoding: 'utf8',
    });
    expect(one.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('forgets a proxy whose stream closed', async () => {
    clients.pop()?.close();
    await expect.poll(async () => (await fetchClientStatus(plane.xdsPort)).config?.map((c) => c.node?.id)).toEqual(['node-1']);
  });
});
