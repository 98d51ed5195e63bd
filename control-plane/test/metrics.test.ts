/**
 * The fleet and convergence metrics, scraped from a running control plane's /metrics while
 * real grpc-js xDS clients of two Envoy versions connect, take a model change, ACK and NACK.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLUSTER } from '@meshcp/xds-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../src/control-plane.js';
import { ENVOY_NODE, serviceYaml } from './fixtures.js';
import { parseSamples, type Sample, sampleValue } from './support/prometheus-text.js';
import { names, XdsTestClient } from './xds-client.js';

/** A named endpoint: an Envoy before 1.39 cannot be given its observability_name (degraded). */
const serviceA = serviceYaml('a', [1001]).replace('port: 1001,', 'port: 1001, name: a-pod,');
const OLD_ENVOY_NODE = { ...ENVOY_NODE, id: 'node-old', user_agent_build_version: { version: { major_number: 1, minor_number: 36, patch: 2 } } };

describe('fleet and convergence metrics', () => {
  let plane: ControlPlane;
  let file: string;
  const clients: XdsTestClient[] = [];
  const scrape = async (): Promise<Sample[]> => parseSamples(await (await fetch(`http://127.0.0.1:${plane.adminPort}/metrics`)).text());

  beforeAll(async () => {
    file = join(mkdtempSync(join(tmpdir(), 'meshcp-metrics-')), 'mesh.yaml');
    writeFileSync(file, serviceA);
    plane = new ControlPlane({ file, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', debounceQuietMs: 20, debounceMaxMs: 100 });
    await plane.start();
    for (const node of [ENVOY_NODE, OLD_ENVOY_NODE]) {
      const client = new XdsTestClient(plane.xdsPort, 'sotw', undefined, { ownConnection: true });
      clients.push(client);
      client.send({ node, type_url: CLUSTER });
      const response = await client.next();
      client.send({ type_url: CLUSTER, version_info: response.version_info, response_nonce: response.nonce });
    }
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await plane.stop();
  });

  it('counts connected proxies by client kind, version and profile, and streams by state', async () => {
    await expect.poll(async () => sampleValue(await scrape(), 'meshcp_proxy_streams', { state: 'SYNCED' })).toBe(2);
    const samples = await scrape();
    expect(sampleValue(samples, 'meshcp_proxies', { client_kind: 'envoy', version: '1.40.0', profile: 'envoy-1.39+' })).toBe(1);
    const old = samples.filter((s) => s.name === 'meshcp_proxies' && s.labels.version === '1.36.2');
    expect(old).toHaveLength(1);
    expect(old[0]?.value).toBe(1);
    expect(old[0]?.labels.profile).not.toBe('envoy-1.39+');
    expect(sampleValue(samples, 'meshcp_proxy_streams', { state: 'STALE' })).toBe(0);
    expect(sampleValue(samples, 'meshcp_proxy_streams', { state: 'NACKED' })).toBe(0);
    // The 1.36 sidecar cannot be given the endpoint's name; the 1.40 one can.
    expect(sampleValue(samples, 'meshcp_proxies_degraded', { client_kind: 'envoy' })).toBe(1);
  });

  it("observes convergence from the model change to each proxy's ACK, and push time", async () => {
    const before = await scrape();
    const countBefore = sampleValue(before, 'meshcp_proxy_convergence_seconds_count', { type: 'CDS' }) ?? 0;
    const sumBefore = sampleValue(before, 'meshcp_proxy_convergence_seconds_sum', { type: 'CDS' }) ?? 0;
    const changed = performance.now();
    writeFileSync(file, `${serviceA}---\n${serviceYaml('b', [1002])}`);
    const responses = await Promise.all(clients.map((c) => c.next()));
    for (const response of responses) expect(names(response)).toEqual(['a.shop:8080', 'b.shop:8080']);
    // One proxy answers at once, the other 200 ms later: its convergence includes the wait.
    const [fast, slow] = clients;
    fast?.send({ type_url: CLUSTER, version_info: responses[0]?.version_info, response_nonce: responses[0]?.nonce });
    await new Promise((resolve) => setTimeout(resolve, 200));
    slow?.send({ type_url: CLUSTER, version_info: responses[1]?.version_info, response_nonce: responses[1]?.nonce });
    await expect.poll(async () => sampleValue(await scrape(), 'meshcp_proxy_convergence_seconds_count', { type: 'CDS' })).toBe(countBefore + 2);
    const elapsed = (performance.now() - changed) / 1000;
    const after = await scrape();
    const added = (sampleValue(after, 'meshcp_proxy_convergence_seconds_sum', { type: 'CDS' }) ?? 0) - sumBefore;
    // The slow ACK waited 200 ms; neither can exceed the time since the file was written.
    expect(added).toBeGreaterThanOrEqual(0.2);
    expect(added).toBeLessThanOrEqual(2 * elapsed);
    expect(sampleValue(after, 'meshcp_proxy_convergence_seconds_bucket', { type: 'CDS', le: '0.1' })).toBeGreaterThanOrEqual(countBefore + 1);
    expect(sampleValue(after, 'meshcp_proxy_convergence_seconds_bucket', { type: 'CDS', le: '0.1' })).toBeLessThan(countBefore + 2);
    expect(sampleValue(after, 'meshcp_push_seconds_count', { type: 'CDS' })).toBeGreaterThanOrEqual(4);
    expect(sampleValue(after, 'meshcp_proxy_streams', { state: 'SYNCED' })).toBe(2);
  });

  it('counts a NACK by type and proxy version, and shows the stream NACKED', async () => {
    writeFileSync(file, serviceYaml('b', [1002]));
    const responses = await Promise.all(clients.map((c) => c.next()));
    const [fast, slow] = clients;
    fast?.send({ type_url: CLUSTER, version_info: responses[0]?.version_info, response_nonce: responses[0]?.nonce });
    slow?.send({ type_url: CLUSTER, version_info: 'old', response_nonce: responses[1]?.nonce, error_detail: { code: 3, message: 'rejected: '.repeat(500) } });
    await expect.poll(async () => sampleValue(await scrape(), 'meshcp_proxy_streams', { state: 'NACKED' })).toBe(1);
    const samples = await scrape();
    expect(sampleValue(samples, 'meshcp_xds_nacks_total', { type: 'CDS', proxy_version: '1.36.2' })).toBe(1);
    expect(sampleValue(samples, 'meshcp_xds_nacks_total', { type: 'CDS', proxy_version: '1.40.0' })).toBeUndefined();
    expect(sampleValue(samples, 'meshcp_proxy_streams', { state: 'SYNCED' })).toBe(1);
    // The reason is not a label (client-chosen text): no sample carries it.
    expect(samples.some((s) => Object.values(s.labels).some((v) => v.includes('rejected')))).toBe(false);
  });

  it('drops a proxy from the fleet gauges when its stream closes', async () => {
    clients.pop()?.close();
    await expect.poll(async () => sampleValue(await scrape(), 'meshcp_proxies', { version: '1.36.2' })).toBeUndefined();
    expect(sampleValue(await scrape(), 'meshcp_proxies', { version: '1.40.0' })).toBe(1);
  });
});
