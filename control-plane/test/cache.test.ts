import { proxyFromNode } from '@meshcp/translators';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from '@meshcp/xds-protos';
import { describe, expect, it } from 'vitest';
import { SnapshotCache } from '../src/cache/snapshot-cache.js';
import { Metrics } from '../src/metrics.js';
import { ENVOY_NODE, mesh, serviceYaml } from './fixtures.js';

describe('snapshot cache', () => {
  it('shares variants between proxies that differ only in node id', () => {
    const cache = new SnapshotCache(new Metrics());
    cache.setModel(mesh(serviceYaml('a', [1001])));
    const one = cache.viewFor(proxyFromNode({ ...ENVOY_NODE, id: 'one' }));
    const two = cache.viewFor(proxyFromNode({ ...ENVOY_NODE, id: 'two' }));
    expect(one.configKey).toBe(two.configKey);
    expect(cache.resources(one, CLUSTER, 'all').get('a.shop:8080')).toBe(cache.resources(two, CLUSTER, 'all').get('a.shop:8080'));
    const otherZone = cache.viewFor(proxyFromNode({ ...ENVOY_NODE, id: 'three', locality: { region: 'eu', zone: 'eu-1b' } }));
    expect(otherZone.configKey).toBe(one.configKey);
    expect(otherZone.endpointKey).not.toBe(one.endpointKey);
  });

  it('reports what an older Envoy cannot be given as degraded', () => {
    const cache = new SnapshotCache(new Metrics());
    cache.setModel(mesh(serviceYaml('a', [1001]).replace('port: 1001,', 'port: 1001, name: a-pod,')));
    const old = cache.viewFor(proxyFromNode({ ...ENVOY_NODE, user_agent_build_version: { version: { major_number: 1, minor_number: 38, patch: 3 } } }));
    const current = cache.viewFor(proxyFromNode(ENVOY_NODE));
    expect(cache.degradedFor(old)).toEqual([expect.stringContaining('(observability_name) need Envoy 1.39+')]);
    expect(cache.degradedFor(current)).toEqual([]);
  });

  it('takes the endpoint fast path: only the changed cluster is re-translated, config is reused', () => {
    const cache = new SnapshotCache(new Metrics());
    cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002])));
    const view = cache.viewFor(proxyFromNode(ENVOY_NODE));
    const listenersBefore = cache.resources(view, LISTENER, 'all');
    const routesBefore = cache.resources(view, ROUTE, 'all');
    const bBefore = cache.resources(view, ENDPOINT, new Set(['b.shop:8080'])).get('b.shop:8080');
    const change = cache.setModel(mesh(serviceYaml('a', [1001, 1003]), serviceYaml('b', [1002])));
    expect(change).toEqual({ config: false, clusters: new Set(['a.shop:8080']), appliedAt: expect.any(Number) });
    expect(cache.resources(view, LISTENER, 'all').get('outbound:15001')).toBe(listenersBefore.get('outbound:15001'));
    expect(cache.resources(view, ROUTE, 'all').get('outbound:15001')).toBe(routesBefore.get('outbound:15001'));
    expect(cache.resources(view, ENDPOINT, new Set(['b.shop:8080'])).get('b.shop:8080')).toBe(bBefore);
    const a = cache.resources(view, ENDPOINT, new Set(['a.shop:8080'])).get('a.shop:8080');
    expect(JSON.stringify(a?.json)).toContain('1003');
  });

  it('never publishes a resource that fails validation: it is counted and the last good version keeps serving', async () => {
    const metrics = new Metrics();
    const cache = new SnapshotCache(metrics);
    cache.setModel(mesh(serviceYaml('a', [1001])));
    const view = cache.viewFor(proxyFromNode(ENVOY_NODE));
    const good = cache.resources(view, CLUSTER, 'all').get('a.shop:8080');
    expect(good).toBeDefined();
    // connect_timeout must be > 0 (PGV): Envoy would NACK it, so it must never leave.
    cache.setResourceHook((typeUrl, resources) => (typeUrl === CLUSTER ? resources.map((c) => ({ ...c, connect_timeout: '0s' })) : resources));
    const served = cache.resources(view, CLUSTER, 'all').get('a.shop:8080');
    expect(served?.version).toBe(good?.version);
    expect(cache.rejectedResources()).toEqual([
      expect.objectContaining({ name: 'a.shop:8080', issues: [{ path: 'connect_timeout', message: 'must be greater than 0s, got 0s' }] }),
    ]);
    expect((await metrics.rejectedResources.get()).values).toEqual([expect.objectContaining({ labels: { type: 'CDS', reason: 'validation' }, value: 1 })]);
    // A resource with no earlier good version is simply not served.
    cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002])));
    expect([...cache.resources(view, CLUSTER, 'all').keys()]).toEqual(['a.shop:8080']);
    cache.setResourceHook(undefined);
    expect([...cache.resources(view, CLUSTER, 'all').keys()].sort()).toEqual(['a.shop:8080', 'b.shop:8080']);
    expect(cache.rejectedResources()).toEqual([]);
  });

  it('publishes only consistent sets: a route never names a cluster that was rejected', async () => {
    const metrics = new Metrics();
    const cache = new SnapshotCache(metrics);
    const split = `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: split, namespace: shop}
spec:
  parentRefs: [{kind: Service, name: a}]
  rules:
    - matches: [{path: {type: PathPrefix, value: /v2}}]
      backendRefs: [{name: b, port: 8080, weight: 90}, {name: a, port: 8080, weight: 10}]
`;
    const rejectB = (typeUrl: string, resources: object[]) =>
      typeUrl === CLUSTER ? resources.map((c) => ((c as { name: string }).name === 'b.shop:8080' ? { ...c, connect_timeout: '0s' } : c)) : resources;
    const routeClusters = (view: ReturnType<SnapshotCache['viewFor']>) =>
      [...cache.resources(view, ROUTE, 'all').values()].flatMap((r) => JSON.stringify(r.json).match(/[a-z]+\.shop:8080/g) ?? []);
    const clusters = (view: ReturnType<SnapshotCache['viewFor']>) => new Set(cache.resources(view, CLUSTER, 'all').keys());

    // First build with the fault: b never existed, so the route that names it is not published, nor the listener that names the route.
    cache.setResourceHook(rejectB);
    cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002]) + split));
    const first = cache.viewFor(proxyFromNode(ENVOY_NODE));
    expect([...clusters(first)]).toEqual(['a.shop:8080']);
    expect(cache.resources(first, ROUTE, 'all').size).toBe(0);
    expect(cache.resources(first, LISTENER, 'all').size).toBe(0);
    expect(cache.rejectedResources().map((r) => [r.typeUrl, r.name, r.reason])).toEqual([
      [CLUSTER, 'b.shop:8080', 'validation'],
      [ROUTE, 'outbound:15001', 'dangling-reference'],
      [LISTENER, 'outbound:15001', 'dangling-reference'],
    ]);

    // With a consistent set serving, the same fault keeps the whole previous route configuration.
    cache.setResourceHook(undefined);
    cache.setModel(mesh(serviceYaml('a', [1001])));
    const view = cache.viewFor(proxyFromNode({ ...ENVOY_NODE, id: 'node-2' }));
    const before = cache.resources(view, ROUTE, 'all').get('outbound:15001');
    expect(before).toBeDefined();
    cache.setResourceHook(rejectB);
    cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002]) + split));
    const served = cache.resources(view, ROUTE, 'all').get('outbound:15001');
    expect(served?.version).toBe(before?.version);
    for (const name of routeClusters(view)) expect(clusters(view)).toContain(name);
    expect(cache.resources(view, LISTENER, 'all').has('outbound:15001')).toBe(true);
    const counted = (await metrics.rejectedResources.get()).values.map((v) => [v.labels.type, v.labels.reason]);
    expect(counted).toEqual(
      expect.arrayContaining([
        ['CDS', 'validation'],
        ['RDS', 'dangling-reference'],
      ]),
    );

    // Once b validates, the route that names it is published with it.
    cache.setResourceHook(undefined);
    expect(routeClusters(view)).toContain('b.shop:8080');
    expect(clusters(view)).toContain('b.shop:8080');
    expect(cache.rejectedResources()).toEqual([]);
  });

  it('allocates nothing for names the model does not have, and forgets variants when their last reader leaves', () => {
    const cache = new SnapshotCache(new Metrics());
    cache.setModel(mesh(serviceYaml('a', [1001])));
    const views = Array.from({ length: 50 }, (_, i) =>
      cache.viewFor(proxyFromNode({ ...ENVOY_NODE, id: `n${i}`, metadata: { 'meshcp.namespace': `ns${i}` }, locality: { region: 'eu', zone: `z${i}` } })),
    );
    for (const view of views) {
      cache.resources(view, CLUSTER, 'all');
      cache.resources(view, ENDPOINT, new Set(['a.shop:8080', ...Array.from({ length: 1000 }, (_, i) => `bogus${i}.shop:80`)]));
    }
    expect(cache.variantCounts()).toEqual({ config: 50, endpoints: 50 });
    for (const view of views) cache.release(view);
    expect(cache.variantCounts()).toEqual({ config: 0, endpoints: 0 });
  });
});
