import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  emptyLastGood,
  envoyEndpointOptions,
  envoyProfile,
  failoverTier,
  loadAssignment,
  type MeshService,
  parseManifests,
  resolveLastGood,
} from '../src/index.js';

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
      {
        source: 'mesh/test.yaml',
        object: 'document',
        path: 'kind',
        message: 'unsupported kind ConfigMap (expected MeshConfig, ReferenceGrant, MeshService, MeshAccessPolicy, HTTPRoute)',
      },
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

  it('a RequestRedirect rule takes no backends, and its status and path are checked', () => {
    const route = (rule: string) =>
      parse(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: moves, namespace: shop}
spec:
  parentRefs: [{name: users}]
  rules:
    - ${rule}
`);
    const users = service({ ports: [{ port: 8080 }] }, 'users');
    const good = manifests(users, route('filters: [{type: RequestRedirect, requestRedirect: {hostname: example.org, statusCode: 301}}]'));
    expect(good.errors).toEqual([]);
    expect(good.model.routes[0]?.rules[0]).toMatchObject({ backends: [], redirect: { hostname: 'example.org', statusCode: 301 } });
    const paths = (rule: string) => manifests(users, route(rule)).errors.map((e) => `${e.path}: ${e.message}`);
    expect(paths('{backendRefs: [{name: users, port: 8080}], filters: [{type: RequestRedirect, requestRedirect: {statusCode: 302}}]}')).toEqual([
      'spec.rules[0].backendRefs: must be empty when the rule has a RequestRedirect filter',
    ]);
    expect(paths('filters: [{type: RequestRedirect, requestRedirect: {statusCode: 304}}]')).toEqual([
      'spec.rules[0].filters[0].requestRedirect.statusCode: must be 301, 302, 303, 307 or 308, got 304',
    ]);
    expect(paths('filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: new}}}]')).toEqual([
      'spec.rules[0].filters[0].requestRedirect.path.replaceFullPath: must start with "/", got "new"',
    ]);
    expect(paths('{matches: [{path: {value: /x}}]}')).toEqual(['spec.rules[0].backendRefs: must list at least one backend']);
  });
});

const tcpService = (name: string, ports: { name: string; port: number; protocol: string }[]) =>
  service({ ports, endpoints: [{ address: '10.0.0.1', port: 5000 }] }, name);

describe('conflicts between objects', () => {
  it('one object defined twice: the later one is rejected, naming both places; the first serves', () => {
    const result = parseManifests([
      { source: 'a.yaml', document: 1, doc: service({ ports: [{ port: 8080 }], endpoints: [{ address: '10.0.0.1', port: 1 }] }) },
      { source: 'b.yaml', document: 3, doc: service({ ports: [{ port: 8080 }], endpoints: [{ address: '10.0.0.2', port: 1 }] }) },
    ]);
    expect(result.model.services.get('shop/payments')?.endpoints[0]?.address).toBe('10.0.0.1');
    expect(result.errors).toEqual([
      {
        source: 'b.yaml',
        object: 'MeshService shop/payments',
        path: 'metadata.name',
        message: 'MeshService shop/payments is defined twice: here (b.yaml (document 3)) and in a.yaml (document 1), which keeps serving; remove one of them',
        reason: 'conflict',
      },
    ]);
    expect(result.outcomes.map((o) => o.accepted)).toEqual([true, false]);
  });

  it('an HTTPRoute defined twice is a conflict too', () => {
    const route = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'r', namespace: 'shop' },
      spec: { parentRefs: [{ name: 'payments' }] },
    };
    const result = manifests(service({ ports: [{ port: 8080 }] }), route, route);
    expect(result.model.routes).toHaveLength(1);
    expect(result.errors.map((e) => [e.object, e.reason])).toEqual([['HTTPRoute shop/r', 'conflict']]);
  });

  it('two TCP services on one port: the later is rejected at spec.ports[i].port naming the holder; HTTP ports may share a number', () => {
    const result = manifests(
      tcpService('postgres', [{ name: 'sql', port: 5432, protocol: 'TCP' }]),
      tcpService('web', [{ name: 'http', port: 5432, protocol: 'HTTP' }]),
      tcpService('other-db', [
        { name: 'http', port: 8080, protocol: 'HTTP' },
        { name: 'sql', port: 5432, protocol: 'TCP' },
      ]),
    );
    expect([...result.model.services.keys()]).toEqual(['shop/postgres', 'shop/web']);
    expect(result.errors).toEqual([expect.objectContaining({ object: 'MeshService shop/other-db', path: 'spec.ports[1].port', reason: 'conflict' })]);
    expect(result.errors[0]?.message).toContain('TCP port 5432 is already taken by MeshService shop/postgres (mesh/test.yaml)');
  });

  it('the incumbent keeps its TCP port even when the newcomer comes first in the input', () => {
    const newcomer = { key: 'new', manifest: { source: 'a.yaml', doc: tcpService('new-db', [{ name: 'sql', port: 5432, protocol: 'TCP' }]) } };
    const incumbent = { key: 'old', manifest: { source: 'b.yaml', doc: tcpService('old-db', [{ name: 'sql', port: 5432, protocol: 'TCP' }]) } };
    const first = resolveLastGood([incumbent], emptyLastGood());
    const second = resolveLastGood([newcomer, incumbent], first.state);
    expect([...second.model.services.keys()]).toEqual(['shop/old-db']);
    expect(second.outcomes.map((o) => [o.key, o.served !== undefined, o.conflicts.map((e) => e.path)])).toEqual([
      ['new', false, ['spec.ports[0].port']],
      ['old', true, []],
    ]);
  });

  it('an object that turns invalid keeps serving its last good version; a new invalid one is left out', () => {
    const good = { key: 'k', manifest: { source: 'f.yaml', doc: service({ ports: [{ port: 8080 }], endpoints: [{ address: '10.0.0.1', port: 1 }] }) } };
    const bad = { key: 'k', manifest: { source: 'f.yaml', doc: service({ ports: [{ port: 8080 }], endpoints: [{ address: '10.0.0.1', port: 0 }] }) } };
    const fresh = { key: 'other', manifest: { source: 'f.yaml', doc: service({ ports: [{ port: 70000 }] }, 'orders') } };
    const first = resolveLastGood([good], emptyLastGood());
    const second = resolveLastGood([bad, fresh], first.state);
    expect([...second.model.services.keys()]).toEqual(['shop/payments']);
    expect(second.model.services.get('shop/payments')?.endpoints[0]?.ports['port-0']).toBe(1);
    expect(second.outcomes.map((o) => [o.invalid.map((e) => e.path), o.served?.manifest === good.manifest])).toEqual([
      [['spec.endpoints[0].port'], true],
      [['spec.ports[0].port'], false],
    ]);
    // Gone from the input: forgotten, not resurrected later.
    expect([...resolveLastGood([], second.state).state.versions.keys()]).toEqual([]);
  });
});

describe('weights and error texts', () => {
  const route = (weight: unknown) => ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'r', namespace: 'shop' },
    spec: { parentRefs: [{ name: 'payments' }], rules: [{ backendRefs: [{ name: 'payments', port: 8080, weight }] }] },
  });

  it('a backend weight of 0 is representable; a negative one is rejected with its field path', () => {
    const zero = manifests(service({ ports: [{ port: 8080 }] }), route(0));
    expect(zero.errors).toEqual([]);
    expect(zero.model.routes[0]?.rules[0]?.backends[0]?.weight).toBe(0);
    const negative = manifests(service({ ports: [{ port: 8080 }] }), route(-1));
    expect(negative.errors.map((e) => [e.path, e.message])).toEqual([['spec.rules[0].backendRefs[0].weight', 'must be 0-1000000, got -1']]);
  });

  it('a huge bad value is described, not copied, in the error', () => {
    const result = manifests(service({ ports: [{ port: 8080, name: 'x'.repeat(5_000_000) }] }), service({ ports: [{ port: 'y'.repeat(1000) }] }, 'orders'));
    expect(result.errors.map((e) => e.path)).toEqual(['spec.ports[0].name', 'spec.ports[0].port']);
    for (const error of result.errors) expect(error.message.length).toBeLessThan(200);
    expect(result.errors[1]?.message).toContain('(1000 characters)');
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
