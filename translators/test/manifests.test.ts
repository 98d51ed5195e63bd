import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { envoyEndpointOptions, envoyProfile, failoverTier, loadAssignment, type MeshService, parseManifests } from '../src/index.js';

const service = (spec: Record<string, unknown>, name = 'payments') => ({
  apiVersion: 'meshcp.io/v1alpha1',
  kind: 'MeshService',
  metadata: { name, namespace: 'shop' },
  spec,
});
const manifests = (...docs: unknown[]) => parseManifests(docs.map((doc) => ({ source: 'mesh/test.yaml', doc })));

describe('manifest validation', () => {
  it('reports each bad object with file, object and field path, and keeps the rest', () => {
    const result = manifests(
      service({ ports: [{ name: 'http', port: 70000 }] }),
      service({ ports: [{ name: 'http', port: 8080 }], endpoints: [{ address: 'not an address!', port: 1 }] }, 'orders'),
      service({ ports: [{ name: 'http', port: 8080 }], endpoints: [{ address: '10.0.0.1', port: 9000 }] }, 'users'),
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } },
    );
    expect(result.errors).toEqual([
      { source: 'mesh/test.yaml', object: 'MeshService shop/payments', path: 'spec.ports[0].port', message: 'must be 1-65535, got 70000' },
      {
        source: 'mesh/test.yaml',
        object: 'MeshService shop/orders',
        path: 'spec.endpoints[0].address',
        message: 'must be an IP address or hostname, got "not an address!"',
      },
      { source: 'mesh/test.yaml', object: 'document', path: 'kind', message: 'unsupported kind ConfigMap (expected MeshService or HTTPRoute)' },
    ]);
    expect([...result.model.services.keys()]).toEqual(['shop/users']);
  });

  it('rejects routes whose references do not resolve, naming the field', () => {
    const route = parse(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: split, namespace: shop}
spec:
  parentRefs: [{name: users}]
  rules:
    - backendRefs: [{name: users, port: 8080}, {name: ghost, port: 80}]
`);
    const result = manifests(service({ ports: [{ port: 8080 }] }, 'users'), route);
    expect(result.errors).toEqual([
      {
        source: 'mesh/test.yaml',
        object: 'HTTPRoute shop/split',
        path: 'spec.rules[0].backendRefs[1]',
        message: 'backend Service shop/ghost not found',
        reason: 'unresolved',
      },
    ]);
    expect(result.model.routes).toEqual([]);
  });
});

const ENVOY_140 = envoyProfile({ version: { major: 1, minor: 40, patch: 0 }, versionText: '1.40.0', extensions: [] });

describe('failover tiers', () => {
  const svc = (localityPriority: ('zone' | 'region' | 'subZone')[]): MeshService => ({
    namespace: 'shop',
    name: 'p',
    ports: [{ name: 'http', port: 80, protocol: 'HTTP' }],
    endpoints: [
      { address: '10.0.0.1', ports: { http: 80 }, locality: { region: 'eu', zone: 'a' }, health: 'Healthy' },
      { address: '10.0.0.2', ports: { http: 80 }, locality: { region: 'eu', zone: 'b' }, health: 'Healthy' },
      { address: '10.0.0.3', ports: { http: 80 }, locality: { region: 'us', zone: 'a' }, health: 'Draining' },
      { address: '10.0.0.4', ports: { http: 80 }, locality: { region: 'us', zone: 'c' }, health: 'Healthy', priority: 0 },
    ],
    failover: { localityPriority, overprovisioningFactor: 140 },
    loadBalancing: 'RoundRobin',
    connectTimeoutMs: 1000,
  });

  it('ranks same zone, then same region, then the rest; explicit priorities win', () => {
    const s = svc(['zone', 'region']);
    const at = { region: 'eu', zone: 'a' };
    expect(s.endpoints.map((e) => failoverTier(s, e, at))).toEqual([0, 1, 2, 0]);
    // A zone of the same name in another region is not the same zone.
    expect(failoverTier(s, s.endpoints[2] as MeshService['endpoints'][number], at)).toBe(2);
    const regionOnly = svc(['region']);
    expect(regionOnly.endpoints.map((e) => failoverTier(regionOnly, e, at))).toEqual([0, 0, 1, 0]);
  });

  it('emits contiguous priorities, health status and the overprovisioning factor', () => {
    const s = svc(['zone', 'region']);
    s.endpoints.pop();
    const cla = loadAssignment(s, s.ports[0] as MeshService['ports'][number], { region: 'eu', zone: 'b' }, envoyEndpointOptions(ENVOY_140)) as {
      endpoints: { priority?: number; locality: unknown; lb_endpoints: { health_status: string }[] }[];
      policy: unknown;
    };
    expect(cla.endpoints.map((e) => [e.locality, e.priority ?? 0])).toEqual([
      [{ region: 'eu', zone: 'b' }, 0],
      [{ region: 'eu', zone: 'a' }, 1],
      [{ region: 'us', zone: 'a' }, 2],
    ]);
    expect(cla.endpoints[2]?.lb_endpoints[0]?.health_status).toBe('DRAINING');
    expect(cla.policy).toEqual({ overprovisioning_factor: 140 });
    // With no P0 endpoints for this proxy, what is left starts at priority 0.
    const far = loadAssignment(s, s.ports[0] as MeshService['ports'][number], { region: 'ap', zone: 'x' }, envoyEndpointOptions(ENVOY_140)) as {
      endpoints: { priority?: number }[];
    };
    expect(far.endpoints.map((e) => e.priority ?? 0)).toEqual([0, 0, 0]);
  });
});
