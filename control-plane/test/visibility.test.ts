/** What each namespace's proxies may see (exportTo) and which routes may name another namespace's Services (ReferenceGrant). */
import { parseManifests, proxyFromNode } from '@meshcp/translators';
import { CLUSTER, ENDPOINT, ROUTE } from '@meshcp/xds-protos';
import { describe, expect, it } from 'vitest';
import { SnapshotCache } from '../src/cache/snapshot-cache.js';
import { Metrics } from '../src/metrics.js';
import { ENVOY_NODE } from './fixtures.js';

const service = (name: string, namespace: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'meshcp.io/v1alpha1',
  kind: 'MeshService',
  metadata: { name, namespace },
  spec: { ports: [{ port: 8080 }], endpoints: [{ address: '10.0.0.1', port: 8080 }], ...extra },
});
const route = (namespace: string, backend: { name: string; namespace: string }) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name: 'r', namespace },
  spec: { parentRefs: [{ kind: 'Service', name: 'front', namespace }], rules: [{ backendRefs: [{ ...backend, port: 8080 }] }] },
});
const grant = {
  apiVersion: 'gateway.networking.k8s.io/v1beta1',
  kind: 'ReferenceGrant',
  metadata: { name: 'g', namespace: 'shop' },
  spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'web' }], to: [{ group: '', kind: 'Service' }] },
};
const parse = (...docs: object[]) => parseManifests(docs.map((doc) => ({ source: 'v.yaml', doc })));
const node = (namespace: string) => proxyFromNode({ ...ENVOY_NODE, id: namespace, metadata: { 'meshcp.namespace': namespace } });

describe('exportTo', () => {
  it('a service exported to its own namespace is invisible elsewhere: no cluster, no virtual host, no endpoints even when asked by name', () => {
    const parsed = parse(service('internal', 'shop', { exportTo: ['.'] }), service('public', 'shop'), service('front', 'web'));
    expect(parsed.errors).toEqual([]);
    const cache = new SnapshotCache(new Metrics());
    cache.setModel(parsed.model);
    const shop = cache.viewFor(node('shop'));
    const web = cache.viewFor(node('web'));
    // Same locality and profile: the two share EDS variants, so visibility must be checked per lookup.
    expect(web.endpointKey).toBe(shop.endpointKey);
    expect([...cache.resources(web, CLUSTER, 'all').keys()].sort()).toEqual(['front.web:8080', 'public.shop:8080']);
    expect(JSON.stringify([...cache.resources(web, ROUTE, 'all').values()].map((r) => r.json))).not.toContain('internal');
    expect(cache.resources(web, ENDPOINT, new Set(['internal.shop:8080'])).size).toBe(0);
    expect(cache.resources(shop, ENDPOINT, new Set(['internal.shop:8080'])).size).toBe(1);
    expect(cache.resources(web, ENDPOINT, new Set(['internal.shop:8080'])).size).toBe(0);
    expect(cache.rejectedResources()).toEqual([]);
  });

  it('a route whose backend the caller cannot see sends it nothing (500 when it was the only one)', () => {
    const parsed = parse(
      service('internal', 'shop', { exportTo: ['shop'] }),
      service('front', 'web'),
      grant,
      route('web', { name: 'internal', namespace: 'shop' }),
    );
    expect(parsed.errors).toEqual([]);
    const cache = new SnapshotCache(new Metrics());
    cache.setModel(parsed.model);
    const routes = JSON.stringify([...cache.resources(cache.viewFor(node('web')), ROUTE, 'all').values()].map((r) => r.json));
    expect(routes).toContain('"direct_response":{"status":500}');
    expect(routes).not.toContain('internal.shop:8080');
    expect(cache.rejectedResources()).toEqual([]);
  });
});

describe('ReferenceGrant', () => {
  it('a route naming a Service of another namespace needs a grant there', () => {
    const without = parse(service('payments', 'shop'), service('front', 'web'), route('web', { name: 'payments', namespace: 'shop' }));
    expect(without.model.routes).toEqual([]);
    expect(without.errors).toEqual([
      expect.objectContaining({ path: 'spec.rules[0].backendRefs[0]', message: expect.stringContaining('needs a ReferenceGrant in shop') }),
    ]);
    const withGrant = parse(service('payments', 'shop'), service('front', 'web'), grant, route('web', { name: 'payments', namespace: 'shop' }));
    expect(withGrant.errors).toEqual([]);
    expect(withGrant.model.routes).toHaveLength(1);
    const otherNamespace = parse(service('payments', 'shop'), service('front', 'ops'), grant, route('ops', { name: 'payments', namespace: 'shop' }));
    expect(otherNamespace.model.routes).toEqual([]);
  });
});
