import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from '@meshcp/xds-protos';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SnapshotCache } from '../src/cache/snapshot-cache.js';
import { Metrics } from '../src/metrics.js';
import { statusOf, type TypeRecord } from '../src/xds/connection.js';
import { clientStatus } from '../src/xds/csds.js';
import { classifyRequest, nackBlamesEveryResource, nextDeltaSubscription, nextSotwSubscription, pushOrder } from '../src/xds/protocol.js';
import { XdsServer } from '../src/xds/server.js';
import { ENVOY_NODE, mesh, serviceYaml } from './fixtures.js';
import { names, XdsTestClient } from './xds-client.js';

describe('protocol decisions', () => {
  it('classifies requests by nonce and error detail', () => {
    expect(classifyRequest(undefined, undefined, false)).toBe('initial');
    expect(classifyRequest({ latestNonce: '1-2' }, '1-2', false)).toBe('ack');
    expect(classifyRequest({ latestNonce: '1-2' }, '1-2', true)).toBe('nack');
    expect(classifyRequest({ latestNonce: '1-2' }, '1-1', false)).toBe('stale');
    expect(classifyRequest({ latestNonce: '1-2' }, '', false)).toBe('update');
    // Only the first answer to a nonce counts: Envoy repeats a NACKed nonce, without error_detail, on its next request.
    expect(classifyRequest({ latestNonce: '1-2', answeredNonce: '1-2' }, '1-2', false)).toBe('update');
    expect(classifyRequest({ latestNonce: '1-2', answeredNonce: '1-2' }, '1-2', true)).toBe('update');
    expect(classifyRequest({ latestNonce: '1-3', answeredNonce: '1-2' }, '1-3', false)).toBe('ack');
    expect(classifyRequest({ latestNonce: '1-3', answeredNonce: '1-2' }, '1-2', false)).toBe('stale');
  });

  it('applies SotW wildcard rules: legacy empty list only for LDS/CDS, and it sticks', () => {
    const legacy = nextSotwSubscription(undefined, CLUSTER, []);
    expect(legacy).toMatchObject({ wildcard: true, legacyWildcard: true });
    expect(nextSotwSubscription(legacy, CLUSTER, []).wildcard).toBe(true);
    expect(nextSotwSubscription(undefined, ENDPOINT, []).wildcard).toBe(false);
    expect(nextSotwSubscription(undefined, ENDPOINT, ['*', 'a']).wildcard).toBe(true);
    const named = nextSotwSubscription(undefined, CLUSTER, ['a']);
    expect(named.wildcard).toBe(false);
    expect(nextSotwSubscription(named, CLUSTER, []).wildcard).toBe(false);
  });

  it('applies Delta subscribe/unsubscribe and wildcard rules', () => {
    const legacy = nextDeltaSubscription(undefined, LISTENER, [], []);
    expect(legacy.wildcard).toBe(true);
    const explicit = nextDeltaSubscription(legacy, LISTENER, ['a'], []);
    expect(explicit.wildcard).toBe(false);
    expect([...explicit.names]).toEqual(['a']);
    const eds = nextDeltaSubscription(undefined, ENDPOINT, ['x', 'y'], []);
    expect([...nextDeltaSubscription(eds, ENDPOINT, [], ['x']).names]).toEqual(['y']);
    expect(nextDeltaSubscription(undefined, ENDPOINT, [], []).wildcard).toBe(false);
  });

  it('orders additions make-before-break and removals in reverse', () => {
    expect(pushOrder([CLUSTER, ENDPOINT, LISTENER, ROUTE], false)).toEqual([CLUSTER, ENDPOINT, LISTENER, ROUTE]);
    expect(pushOrder([CLUSTER, ENDPOINT, LISTENER, ROUTE], true)).toEqual([ROUTE, LISTENER, ENDPOINT, CLUSTER]);
  });

  it('a NACK blames every resource only of a single-resource response or a SotW LDS/CDS state', () => {
    for (const type of [CLUSTER, ENDPOINT, LISTENER, ROUTE]) {
      expect(nackBlamesEveryResource('sotw', type, 1)).toBe(true);
      expect(nackBlamesEveryResource('delta', type, 1)).toBe(true);
      expect(nackBlamesEveryResource('delta', type, 2)).toBe(false);
    }
    expect(nackBlamesEveryResource('sotw', CLUSTER, 2)).toBe(true);
    expect(nackBlamesEveryResource('sotw', LISTENER, 2)).toBe(true);
    expect(nackBlamesEveryResource('sotw', ENDPOINT, 2)).toBe(false);
    expect(nackBlamesEveryResource('sotw', ROUTE, 2)).toBe(false);
  });
});

describe('xDS server with a real grpc-js client', () => {
  let cache: SnapshotCache;
  let metrics: Metrics;
  let server: XdsServer;
  let port: number;
  const clients: XdsTestClient[] = [];
  const connect = (mode: 'sotw' | 'delta' = 'sotw', path?: string) => {
    const client = new XdsTestClient(port, mode, path);
    clients.push(client);
    return client;
  };

  beforeEach(async () => {
    metrics = new Metrics();
    cache = new SnapshotCache(metrics);
    server = new XdsServer(cache, metrics, { maxResourceNames: 50_000 });
    port = await server.start('127.0.0.1:0');
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.stop();
  });

  it('serves nothing before the source is ready, then answers the waiting request', async () => {
    const client = connect();
    client.send({ node: ENVOY_NODE, type_url: CLUSTER });
    // The request has been admitted once the proxy shows up in the connection list.
    await expect.poll(() => server.connections().length).toBe(1);
    expect(client.pending()).toBe(0);
    cache.setModel(mesh(serviceYaml('a', [1001])));
    const response = await client.next();
    expect(names(response)).toEqual(['a.shop:8080']);
  });

  it('ACKs, ignores stale nonces, and pushes only new versions', async () => {
    cache.setModel(mesh(serviceYaml('a', [1001])));
    const client = connect();
    client.send({ node: ENVOY_NODE, type_url: CLUSTER });
    const first = await client.next();
    expect(first.version_info).toBeTruthy();
    client.send({ type_url: CLUSTER, version_info: first.version_info, response_nonce: first.nonce });
    await expect.poll(() => server.connections()[0]?.types.get(CLUSTER)?.ackedVersion).toBe(first.version_info);

    cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002])));
    const second = await client.next();
    expect(names(second).sort()).toEqual(['a.shop:8080', 'b.shop:8080']);
    expect(second.version_info).not.toBe(first.version_info);
    // A late answer to the first response is stale: no response, no state change.
    client.send({ type_url: CLUSTER, version_info: first.version_info, response_nonce: first.nonce });
    // Fence: an EDS subscription is answered; had the stale request produced a CDS push it would arrive first.
    client.send({ type_url: ENDPOINT, resource_names: ['a.shop:8080'] });
    const fence = await client.next();
    expect(fence.type_url).toBe(ENDPOINT);
    expect(server.connections()[0]?.types.get(CLUSTER)?.ackedVersion).toBe(first.version_info);
    expect(await metrics.ignoredRequests.get()).toMatchObject({ values: [expect.objectContaining({ labels: { reason: 'stale_nonce' }, value: 1 })] });
  });

  it('content-hash versions are identical across servers for the same model', async () => {
    cache.setModel(mesh(serviceYaml('a', [1001])));
    const other = new SnapshotCache(new Metrics());
    other.setModel(mesh(serviceYaml('a', [1001])));
    const view = cache.viewFor({ ...cache.viewFor(await import('@meshcp/translators').then((t) => t.proxyFromNode(ENVOY_NODE))).info });
    const a = [...cache.resources(view, CLUSTER, 'all').values()].map((r) => r.version);
    const b = [...other.resources(other.viewFor(view.info), CLUSTER, 'all').values()].map((r) => r.version);
    expect(a).toEqual(b);
  });

  it('on NACK keeps the last ACKed version, records the error, and does not re-send it', async () => {
    cache.setModel(mesh(serviceYaml('a', [1001])));
    const client = connect();
    client.send({ node: ENVOY_NODE, type_url: CLUSTER });
    const good = await client.next();
    client.send({ type_url: CLUSTER, version_info: good.version_info, response_nonce: good.nonce });
    cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002])));
    const bad = await client.next();
    client.send({ type_url: CLUSTER, version_info: good.version_info, response_nonce: bad.nonce, error_detail: { code: 3, message: 'cluster b rejected' } });
    await expect.poll(() => server.connections()[0]?.types.get(CLUSTER)?.lastNack?.error).toBe('cluster b rejected');
    const record = server.connections()[0]?.types.get(CLUSTER);
    expect(record?.ackedVersion).toBe(good.version_info);
    expect(record?.lastResponseNacked).toBe(true);
    // An unrelated endpoint change must not re-push the rejected CDS version.
    client.send({ type_url: ENDPOINT, resource_names: ['a.shop:8080'] });
    const eds = await client.next();
    expect(eds.type_url).toBe(ENDPOINT);
    client.send({ type_url: ENDPOINT, resource_names: ['a.shop:8080'], version_info: eds.version_info, response_nonce: eds.nonce });
    cache.setModel(mesh(serviceYaml('a', [1001, 1003]), serviceYaml('b', [1002])));
    const edsUpdate = await client.next();
    expect(edsUpdate.type_url).toBe(ENDPOINT);
    expect(client.pending()).toBe(0);
    // A new model version is sent again.
    cache.setModel(mesh(serviceYaml('a', [1001, 1003]), serviceYaml('c', [1004])));
    const fixed = await client.next();
    expect(fixed.type_url).toBe(CLUSTER);
    expect(names(fixed).sort()).toEqual(['a.shop:8080', 'c.shop:8080']);
  });

  it('SotW EDS sends only changed resources and re-sends a re-subscribed one (go-control-plane #583)', async () => {
    cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002])));
    const client = connect();
    client.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names: ['a.shop:8080', 'b.shop:8080'] });
    const all = await client.next();
    expect(names(all).sort()).toEqual(['a.shop:8080', 'b.shop:8080']);
    client.send({ type_url: ENDPOINT, resource_names: ['a.shop:8080', 'b.shop:8080'], version_info: all.version_info, response_nonce: all.nonce });
    cache.setModel(mesh(serviceYaml('a', [1001, 1005]), serviceYaml('b', [1002])));
    const changed = await client.next();
    expect(names(changed)).toEqual(['a.shop:8080']);
    client.send({ type_url: ENDPOINT, resource_names: ['a.shop:8080'], version_info: changed.version_info, response_nonce: changed.nonce });
    await expect.poll(() => server.connections()[0]?.types.get(ENDPOINT)?.ackedVersion).toBe(changed.version_info);
    client.send({ type_url: ENDPOINT, resource_names: ['a.shop:8080', 'b.shop:8080'], version_info: changed.version_info, response_nonce: changed.nonce });
    const again = await client.next();
    expect(names(again)).toEqual(['b.shop:8080']);
  });

  it('removes clusters from SotW CDS by omission', async () => {
    cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002])));
    const client = connect();
    client.send({ node: ENVOY_NODE, type_url: CLUSTER, resource_names: [] });
    const first = await client.next();
    client.send({ type_url: CLUSTER, version_info: first.version_info, response_nonce: first.nonce });
    cache.setModel(mesh(serviceYaml('a', [1001])));
    expect(names(await client.next())).toEqual(['a.shop:8080']);
  });

  it('pushes additions in ADS order: CDS and EDS before LDS and RDS', async () => {
    cache.setModel(mesh(serviceYaml('a', [1001])));
    const client = connect();
    client.send({ node: ENVOY_NODE, type_url: CLUSTER });
    const cds = await client.next();
    client.send({ type_url: CLUSTER, version_info: cds.version_info, response_nonce: cds.nonce });
    client.send({ type_url: LISTENER });
    const lds = await client.next();
    client.send({ type_url: LISTENER, version_info: lds.version_info, response_nonce: lds.nonce });
    client.send({ type_url: ROUTE, resource_names: ['outbound:15001'] });
    const rds = await client.next();
    client.send({ type_url: ROUTE, resource_names: ['outbound:15001'], version_info: rds.version_info, response_nonce: rds.nonce });
    client.send({ type_url: ENDPOINT, resource_names: ['a.shop:8080'] });
    const eds = await client.next();
    client.send({ type_url: ENDPOINT, resource_names: ['a.shop:8080'], version_info: eds.version_info, response_nonce: eds.nonce });
    await expect.poll(() => server.connections()[0]?.types.get(ENDPOINT)?.ackedVersion).toBe(eds.version_info);

    cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002])));
    const firstPush = await client.next();
    expect(firstPush.type_url).toBe(CLUSTER);
    expect(client.pending()).toBe(0); // RDS waits for the CDS ACK
    client.send({ type_url: CLUSTER, version_info: firstPush.version_info, response_nonce: firstPush.nonce });
    const secondPush = await client.next();
    expect(secondPush.type_url).toBe(ROUTE);
    expect(JSON.stringify(secondPush.resources)).toContain('b.shop:8080');
  });

  it('re-sends the endpoints of an updated cluster without waiting for the CDS ACK (go-control-plane #245)', async () => {
    cache.setModel(mesh(serviceYaml('a', [1001])));
    const client = connect();
    client.send({ node: ENVOY_NODE, type_url: CLUSTER });
    const cds = await client.next();
    client.send({ type_url: CLUSTER, version_info: cds.version_info, response_nonce: cds.nonce });
    client.send({ type_url: ENDPOINT, resource_names: ['a.shop:8080'] });
    const eds = await client.next();
    client.send({ type_url: ENDPOINT, resource_names: ['a.shop:8080'], version_info: eds.version_info, response_nonce: eds.nonce });
    await expect.poll(() => server.connections()[0]?.types.get(ENDPOINT)?.ackedVersion).toBe(eds.version_info);
    // Same endpoints, new connect timeout: Envoy re-creates the cluster and warms it on EDS.
    cache.setModel(mesh(serviceYaml('a', [1001]).replace('ports: [{name: http, port: 8080}]', 'ports: [{name: http, port: 8080}]\n  connectTimeout: 2s')));
    const cdsUpdate = await client.next();
    expect(cdsUpdate.type_url).toBe(CLUSTER);
    const edsAgain = await client.next();
    expect(edsAgain.type_url).toBe(ENDPOINT);
    expect(names(edsAgain)).toEqual(['a.shop:8080']);
    const endpointsOf = (r: typeof eds) => (r.resources?.[0] as { endpoints?: unknown } | undefined)?.endpoints;
    expect(endpointsOf(edsAgain)).toEqual(endpointsOf(eds));
    expect(endpointsOf(eds)).toBeDefined();
  });

  it('Delta: initial_resource_versions avoid re-sending, removals only for what the client has', async () => {
    cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002])));
    const first = connect('delta');
    first.send({ node: ENVOY_NODE, type_url: CLUSTER });
    const initial = await first.next();
    expect(names(initial).sort()).toEqual(['a.shop:8080', 'b.shop:8080']);
    const versions = Object.fromEntries(
      (initial.resources ?? []).map((r) => [String((r as { name: string }).name), String((r as { version: string }).version)]),
    );
    first.close();

    // Reconnect claiming both, with b at a version we never had: only b is re-sent.
    const second = connect('delta');
    second.send({ node: ENVOY_NODE, type_url: CLUSTER, initial_resource_versions: { ...versions, 'b.shop:8080': 'old', 'gone.shop:8080': 'x' } });
    const resync = await second.next();
    expect(names(resync)).toEqual(['b.shop:8080']);
    expect(resync.removed_resources).toEqual(['gone.shop:8080']);
    second.send({ type_url: CLUSTER, response_nonce: resync.nonce });
    cache.setModel(mesh(serviceYaml('a', [1001])));
    const removal = await second.next();
    expect(removal.resources ?? []).toEqual([]);
    expect(removal.removed_resources).toEqual(['b.shop:8080']);
  });

  it('Delta: a reconnect already holding every current version is SYNCED without a response', async () => {
    cache.setModel(mesh(serviceYaml('a', [1001])));
    const first = connect('delta');
    first.send({ node: ENVOY_NODE, type_url: CLUSTER });
    const initial = await first.next();
    const held = Object.fromEntries((initial.resources ?? []).map((r) => [String((r as { name: string }).name), String((r as { version: string }).version)]));
    first.close();
    await expect.poll(() => server.connections().length).toBe(0);
    const second = connect('delta');
    second.send({ node: ENVOY_NODE, type_url: CLUSTER, initial_resource_versions: held });
    await expect.poll(() => server.connections()[0]?.types.get(CLUSTER)?.ackedVersion).toBeTruthy();
    const record = server.connections()[0]?.types.get(CLUSTER);
    expect(record && statusOf(record)).toBe('SYNCED');
    // Fence: a new change is the first thing the client receives.
    cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002])));
    expect(names(await second.next())).toEqual(['b.shop:8080']);
  });

  it('Delta: an unsubscribed resource is not reported removed, and re-subscribing sends it again', async () => {
    cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002])));
    const client = connect('delta');
    client.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names_subscribe: ['a.shop:8080', 'b.shop:8080', 'missing.shop:8080'] });
    const first = await client.next();
    expect(names(first).sort()).toEqual(['a.shop:8080', 'b.shop:8080']);
    expect(first.removed_resources).toEqual(['missing.shop:8080']);
    client.send({ type_url: ENDPOINT, response_nonce: first.nonce, resource_names_unsubscribe: ['b.shop:8080'] });
    cache.setModel(mesh(serviceYaml('a', [1001, 1005])));
    const update = await client.next();
    expect(names(update)).toEqual(['a.shop:8080']);
    expect(update.removed_resources ?? []).toEqual([]);
    client.send({ type_url: ENDPOINT, response_nonce: update.nonce, resource_names_subscribe: ['b.shop:8080'] });
    cache.setModel(mesh(serviceYaml('a', [1001, 1005]), serviceYaml('b', [1002])));
    const back = await client.next();
    expect(names(back)).toEqual(['b.shop:8080']);
  });

  it('Delta: a NACK is undone neither by its nonce repeated nor by a later ACK; a re-subscribe sends the rejected resource again', async () => {
    const [A, B] = ['a.shop:8080', 'b.shop:8080'];
    cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [2001])));
    const client = connect('delta');
    client.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names_subscribe: [A] });
    const first = await client.next();
    client.send({ type_url: ENDPOINT, response_nonce: first.nonce });
    cache.setModel(mesh(serviceYaml('a', [1002]), serviceYaml('b', [2001])));
    const bad = await client.next();
    client.send({ type_url: ENDPOINT, response_nonce: bad.nonce, error_detail: { code: 3, message: 'bad a' } });
    // Envoy's next request keeps the NACKed nonce and drops error_detail.
    client.send({ type_url: ENDPOINT, response_nonce: bad.nonce, resource_names_subscribe: [B] });
    const added = await client.next();
    expect(names(added)).toEqual([B]);
    client.send({ type_url: ENDPOINT, response_nonce: added.nonce });
    const record = () => server.connections()[0]?.types.get(ENDPOINT);
    await expect.poll(() => record()?.ackedVersion).toBe(added.system_version_info);
    expect(statusOf(record() as TypeRecord)).toBe('NACKED');
    const acks = (await metrics.acks.get()).values.filter((v) => v.labels.type === 'EDS').reduce((sum, v) => sum + v.value, 0);
    expect(acks).toBe(2); // first and added: the repeated nonce was no ACK
    const rows = () =>
      (
        clientStatus(server, {}).config[0] as { generic_xds_configs: { name: string; client_status: string; error_state?: { details: string } }[] }
      ).generic_xds_configs
        .map((c) => [c.name, c.client_status, c.error_state?.details])
        .sort((x, y) => String(x[0]).localeCompare(String(y[0])));
    expect(rows()).toEqual([
      [A, 'NACKED', 'bad a'],
      [B, 'ACKED', undefined],
    ]);
    // Unsubscribed and subscribed again, the client holds nothing of a: it is sent again.
    client.send({ type_url: ENDPOINT, resource_names_unsubscribe: [A] });
    client.send({ type_url: ENDPOINT, resource_names_subscribe: [A] });
    const again = await client.next();
    expect(names(again)).toEqual([A]);
    client.send({ type_url: ENDPOINT, response_nonce: again.nonce });
    await expect.poll(() => statusOf(record() as TypeRecord)).toBe('SYNCED');
    expect(rows()).toEqual([
      [A, 'ACKED', undefined],
      [B, 'ACKED', undefined],
    ]);
  });

  it('a stuck stream holds one response per type and does not hold back the others', async () => {
    cache.setModel(mesh(serviceYaml('a', [1001])));
    const stuck = connect();
    stuck.send({ node: { ...ENVOY_NODE, id: 'stuck' }, type_url: CLUSTER });
    const healthy = connect();
    healthy.send({ node: { ...ENVOY_NODE, id: 'healthy' }, type_url: CLUSTER });
    await stuck.next();
    let latest = await healthy.next();
    for (let i = 2; i <= 10; i++) {
      healthy.send({ type_url: CLUSTER, version_info: latest.version_info, response_nonce: latest.nonce });
      cache.setModel(mesh(serviceYaml('a', [1001]), ...Array.from({ length: i }, (_, j) => serviceYaml(`s${j}`, [2000 + j]))));
      latest = await healthy.next();
      expect(names(latest)).toHaveLength(i + 1);
    }
    // The stuck client never answered: it got its first response and nothing queued behind it.
    expect(stuck.pending()).toBe(0);
    const stuckRecord = server
      .connections()
      .find((c) => c.nodeId === 'stuck')
      ?.types.get(CLUSTER);
    expect(stuckRecord?.waiting).toBe(true);
    // Once it answers, it gets the latest state in one response.
    const first = await healthy.next(50).catch(() => undefined);
    expect(first).toBeUndefined();
  });

  it('caps the streams of one HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS); the next waits for a free slot', async () => {
    await server.stop();
    server = new XdsServer(cache, metrics, { maxStreamsPerConnection: 3 });
    port = await server.start('127.0.0.1:0');
    cache.setModel(mesh(serviceYaml('a', [1001])));
    // grpc-js shares one connection per target between clients: these five streams share it.
    const streams = Array.from({ length: 5 }, (_, i) => {
      const s = connect();
      s.send({ node: { ...ENVOY_NODE, id: `conn-${i}` }, type_url: CLUSTER });
      return s;
    });
    await expect.poll(() => server.openStreams()).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(server.openStreams()).toBe(3);
    const waiting = streams.filter((s) => s.pending() === 0);
    expect(waiting).toHaveLength(2);
    streams.find((s) => s.pending() > 0)?.close();
    await expect.poll(() => streams.filter((s) => s.pending() > 0).length).toBe(4);
  });

  it('serves the standalone per-type services', async () => {
    cache.setModel(mesh(serviceYaml('a', [1001])));
    const cds = connect('sotw', '/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters');
    cds.send({ node: ENVOY_NODE });
    const response = await cds.next();
    expect(response.type_url).toBe(CLUSTER);
    const wrongType = connect('sotw', '/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters');
    wrongType.send({ node: ENVOY_NODE, type_url: LISTENER });
    expect((await wrongType.ended()).code).toBe(3);
  });

  it('rejects malformed requests on their own stream only', async () => {
    cache.setModel(mesh(serviceYaml('a', [1001])));
    const healthy = connect();
    healthy.send({ node: ENVOY_NODE, type_url: CLUSTER });
    const before = await healthy.next();

    const noNode = connect();
    noNode.send({ type_url: CLUSTER });
    expect(await noNode.ended()).toMatchObject({ code: 3, details: expect.stringContaining('node') });

    const garbage = connect();
    garbage.sendRaw(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    expect(await garbage.ended()).toMatchObject({ code: 3, details: expect.stringContaining('malformed DiscoveryRequest') });

    const tooMany = connect();
    tooMany.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names: Array.from({ length: 100_000 }, (_, i) => `svc-${i}.shop:8080`) });
    expect(await tooMany.ended()).toMatchObject({ code: 8, details: expect.stringContaining('100000') });

    const unknownType = connect();
    unknownType.send({ node: ENVOY_NODE, type_url: 'type.googleapis.com/envoy.service.runtime.v3.Runtime' });
    unknownType.send({ type_url: CLUSTER });
    expect((await unknownType.next()).type_url).toBe(CLUSTER);
    expect(JSON.stringify(await metrics.ignoredRequests.get())).toContain('unknown_type');

    // The healthy stream still gets pushes.
    healthy.send({ type_url: CLUSTER, version_info: before.version_info, response_nonce: before.nonce });
    cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('z', [1009])));
    expect(names(await healthy.next()).sort()).toEqual(['a.shop:8080', 'z.shop:8080']);
  });
});
