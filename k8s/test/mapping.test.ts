/** The pure parts: projections, native mapping, model assembly, status building, backoff. */
import { emptyLastGood } from '@meshcp/translators';
import { describe, expect, it } from 'vitest';
import {
  assembleModel,
  backoffDelay,
  CONTROLLER_NAME,
  type CustomObjectView,
  endpointHealth,
  httpRouteStatus,
  meshServiceStatus,
  microTime,
  nativeMeshService,
  type ObjectReport,
  objectConditions,
  portProtocol,
  projectCustom,
  projectNode,
  projectService,
  projectSlice,
  stableJson,
} from '../src/index.js';

const service = (name: string, ports: unknown[], namespace = 'shop') => ({ metadata: { name, namespace, labels: { app: name } }, spec: { ports } });
const slice = (name: string, serviceName: string, endpoints: unknown[], ports: unknown[] = [{ name: 'http', port: 9000 }]) => ({
  metadata: { name, namespace: 'shop', labels: { 'kubernetes.io/service-name': serviceName } },
  addressType: 'IPv4',
  ports,
  endpoints,
});

describe('endpointHealth', () => {
  it.each([
    [{}, 'Healthy'],
    [{ ready: true }, 'Healthy'],
    [{ ready: false }, 'Unhealthy'],
    [{ ready: false, serving: true, terminating: true }, 'Draining'],
    [{ ready: false, serving: false, terminating: true }, 'Unhealthy'],
    [{ ready: true, terminating: false }, 'Healthy'],
  ] as const)('%j → %s', (conditions, health) => {
    expect(endpointHealth(conditions)).toBe(health);
  });
});

describe('portProtocol', () => {
  it('prefers appProtocol, then the name prefix, else HTTP; UDP is not meshed', () => {
    expect(portProtocol({ name: 'web', appProtocol: 'grpc' })).toBe('GRPC');
    expect(portProtocol({ name: 'x', appProtocol: 'kubernetes.io/h2c' })).toBe('HTTP2');
    expect(portProtocol({ name: 'grpc-api' })).toBe('GRPC');
    expect(portProtocol({ name: 'tcp-db' })).toBe('TCP');
    expect(portProtocol({ name: 'https' })).toBe('TCP');
    expect(portProtocol({ name: 'web' })).toBe('HTTP');
    expect(portProtocol({ name: 'dns', protocol: 'UDP' })).toBeUndefined();
  });
});

describe('projections keep only what the mapping reads', () => {
  it('a Service label change projects to the same view', () => {
    const a = service('payments', [{ name: 'http', port: 8080, targetPort: 9000, protocol: 'TCP' }]);
    const b = { ...a, metadata: { ...a.metadata, labels: { app: 'payments', version: 'v2' }, resourceVersion: '99' } };
    expect(JSON.stringify(projectService(b))).toBe(JSON.stringify(projectService(a)));
  });

  it('a Node heartbeat projects to the same view; zone and region come from topology labels', () => {
    const node = {
      metadata: { name: 'n1', labels: { 'topology.kubernetes.io/zone': 'eu-1a', 'topology.kubernetes.io/region': 'eu' } },
      status: { conditions: [] },
    };
    const beat = { ...node, status: { conditions: [{ type: 'Ready', lastHeartbeatTime: 'now' }] } };
    expect(projectNode(node)).toEqual({ name: 'n1', zone: 'eu-1a', region: 'eu' });
    expect(JSON.stringify(projectNode(beat))).toBe(JSON.stringify(projectNode(node)));
  });

  it('slices without the service-name label, and FQDN slices, are left out', () => {
    expect(projectSlice({ metadata: { name: 's', namespace: 'shop' }, addressType: 'IPv4', endpoints: [] })).toBeUndefined();
    expect(projectSlice({ ...slice('s', 'payments', []), addressType: 'FQDN' })).toBeUndefined();
  });

  it('ExternalName Services are left out', () => {
    expect(projectService({ metadata: { name: 'x', namespace: 'shop' }, spec: { type: 'ExternalName', externalName: 'example.org' } })).toBeUndefined();
  });

  it('custom objects keep spec, identity, generation and status, not metadata noise', () => {
    const view = projectCustom('MeshService', {
      apiVersion: 'meshcp.io/v1alpha1',
      kind: 'MeshService',
      metadata: { name: 'p', namespace: 'shop', uid: 'u1', generation: 3, resourceVersion: '7', managedFields: [{}] },
      spec: { ports: [] },
    });
    expect(view).toEqual({
      kind: 'MeshService',
      uid: 'u1',
      namespace: 'shop',
      name: 'p',
      generation: 3,
      doc: { apiVersion: 'meshcp.io/v1alpha1', kind: 'MeshService', metadata: { name: 'p', namespace: 'shop' }, spec: { ports: [] } },
      status: null,
    });
  });
});

describe('nativeMeshService', () => {
  const nodes = new Map([['n1', { name: 'n1', zone: 'eu-1b', region: 'eu' }]]);
  const payments = projectService(service('payments', [{ name: 'http', port: 8080, targetPort: 9000, protocol: 'TCP' }]))!;

  it('maps slices to endpoints with health, target ports and locality (slice zone first, else the Node)', () => {
    const s1 = projectSlice(
      slice('payments-a', 'payments', [
        { addresses: ['10.1.0.1'], conditions: { ready: true }, zone: 'eu-1a', nodeName: 'n1' },
        { addresses: ['10.1.0.2'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'n1' },
        { addresses: ['10.1.0.3'], conditions: { ready: false } },
      ]),
    )!;
    const mapped = nativeMeshService(payments, [s1], nodes)!;
    expect(mapped.ports).toEqual([{ name: 'http', port: 8080, protocol: 'HTTP' }]);
    expect(mapped.endpoints).toEqual([
      { address: '10.1.0.1', ports: { http: 9000 }, locality: { region: 'eu', zone: 'eu-1a' }, health: 'Healthy' },
      { address: '10.1.0.2', ports: { http: 9000 }, locality: { region: 'eu', zone: 'eu-1b' }, health: 'Draining' },
      { address: '10.1.0.3', ports: { http: 9000 }, locality: {}, health: 'Unhealthy' },
    ]);
  });

  it('an address in two slices keeps its healthiest view; other services’ slices are ignored', () => {
    const a = projectSlice(slice('payments-a', 'payments', [{ addresses: ['10.1.0.1'], conditions: { ready: false } }]))!;
    const b = projectSlice(slice('payments-b', 'payments', [{ addresses: ['10.1.0.1'], conditions: { ready: true } }]))!;
    const other = projectSlice(slice('orders-a', 'orders', [{ addresses: ['10.9.9.9'] }]))!;
    const mapped = nativeMeshService(payments, [b, other, a], nodes)!;
    expect(mapped.endpoints.map((e) => [e.address, e.health])).toEqual([['10.1.0.1', 'Healthy']]);
  });

  it('an unnamed single port is named port-N; a Service with only UDP ports is not meshed', () => {
    const unnamed = projectService(service('web', [{ port: 80, targetPort: 8080 }]))!;
    expect(nativeMeshService(unnamed, [], nodes)?.ports).toEqual([{ name: 'port-80', port: 80, protocol: 'HTTP' }]);
    const dns = projectService(service('dns', [{ name: 'dns', port: 53, protocol: 'UDP' }]))!;
    expect(nativeMeshService(dns, [], nodes)).toBeUndefined();
  });
});

function meshServiceObject(name: string, spec: unknown, generation = 1, uid = `uid-${name}`): CustomObjectView {
  return projectCustom('MeshService', {
    apiVersion: 'meshcp.io/v1alpha1',
    kind: 'MeshService',
    metadata: { name, namespace: 'shop', uid, generation },
    spec,
  });
}

function httpRoute(name: string, spec: unknown, status: unknown = null): CustomObjectView {
  return projectCustom('HTTPRoute', {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name, namespace: 'shop', uid: `uid-${name}`, generation: 1 },
    spec,
    status,
  });
}

const goodSpec = { ports: [{ name: 'http', port: 8080 }], endpoints: [{ address: '127.0.0.1', port: 9001 }] };
const badSpec = { ports: [{ name: 'http', port: 8080 }], endpoints: [{ address: '127.0.0.1', ports: { metrics: 9100 } }] };
const empty = { services: [], slices: [], nodes: [], meshServices: [], httpRoutes: [] };

describe('assembleModel', () => {
  it('a MeshService wins over a native Service of the same name', () => {
    const native = projectService(service('payments', [{ name: 'http', port: 80 }]))!;
    const { model } = assembleModel({ ...empty, services: [native], meshServices: [meshServiceObject('payments', goodSpec)] }, emptyLastGood());
    expect(model.services.get('shop/payments')?.ports[0]?.port).toBe(8080);
  });

  it('a MeshService without endpoints takes its Service’s endpoints (target ports, locality, health); endpoints: [] means none', () => {
    const native = projectService(service('payments', [{ name: 'http', port: 8080, targetPort: 9000 }]))!;
    const slices = [projectSlice(slice('payments-a', 'payments', [{ addresses: ['10.1.0.2'] }, { addresses: ['10.1.0.1'], conditions: { ready: false } }]))!];
    const inherited = { ports: [{ name: 'web', port: 8080 }], mtls: { mode: 'STRICT' }, serviceAccount: 'payments' };
    const out = assembleModel({ ...empty, services: [native], slices, meshServices: [meshServiceObject('payments', inherited)] }, emptyLastGood());
    expect(out.errors).toEqual([]);
    const served = out.model.services.get('shop/payments');
    expect(served?.mtls).toBe('STRICT');
    expect(served?.endpoints.map((e) => [e.address, e.ports.web, e.health])).toEqual([
      ['10.1.0.1', 9000, 'Unhealthy'],
      ['10.1.0.2', 9000, 'Healthy'],
    ]);
    expect(out.reports[0]?.endpoints).toBe(2);
    const none = assembleModel(
      { ...empty, services: [native], slices, meshServices: [meshServiceObject('payments', { ...inherited, endpoints: [] })] },
      emptyLastGood(),
    );
    expect(none.model.services.get('shop/payments')?.endpoints).toEqual([]);
  });

  it('a Service’s cluster IPs (what clients dial) reach the model, a MeshService of its name included; headless: none', () => {
    const withIp = (name: string, spec: object) => ({
      ...service(name, [{ name: 'tcp-pg', port: 5432 }]),
      spec: { ports: [{ name: 'tcp-pg', port: 5432 }], ...spec },
    });
    const db = projectService(withIp('db', { clusterIP: '10.96.0.40', clusterIPs: ['10.96.0.40', 'fd00::40'] }))!;
    const single = projectService(withIp('single', { clusterIP: '10.96.0.41' }))!;
    const headless = projectService(withIp('headless', { clusterIP: 'None', clusterIPs: ['None'] }))!;
    const junk = projectService(withIp('junk', { clusterIPs: ['not-an-ip', 7] }))!;
    expect([db, single, headless, junk].map((s) => s.addresses)).toEqual([['10.96.0.40', 'fd00::40'], ['10.96.0.41'], [], []]);
    const declared = projectService(withIp('payments', { clusterIP: '10.96.0.50' }))!;
    const { model } = assembleModel({ ...empty, services: [db, headless, declared], meshServices: [meshServiceObject('payments', goodSpec)] }, emptyLastGood());
    expect(model.services.get('shop/db')?.addresses).toEqual(['10.96.0.40', 'fd00::40']);
    expect(model.services.get('shop/headless')?.addresses).toBeUndefined();
    expect(model.services.get('shop/payments')?.addresses).toEqual(['10.96.0.50']);
  });

  it('a rejected generation keeps serving the last good one, with the field path reported', () => {
    const first = assembleModel({ ...empty, meshServices: [meshServiceObject('payments', goodSpec, 1)] }, emptyLastGood());
    const second = assembleModel({ ...empty, meshServices: [meshServiceObject('payments', badSpec, 2)] }, first.lastGood);
    expect(second.model.services.get('shop/payments')?.endpoints[0]?.ports.http).toBe(9001);
    expect(second.errors.map((e) => e.path)).toEqual(['spec.endpoints[0].ports.metrics']);
    expect(second.reports[0]?.servedGeneration).toBe(1);
    // Recreated (new uid) with a bad spec: nothing old is resurrected.
    const recreated = assembleModel({ ...empty, meshServices: [meshServiceObject('payments', badSpec, 1, 'uid-new')] }, second.lastGood);
    expect(recreated.model.services.has('shop/payments')).toBe(false);
    expect(recreated.reports[0]?.servedGeneration).toBeUndefined();
  });

  it('HTTPRoutes resolve against native Services too; an unresolved backend is reported and left out', () => {
    const native = projectService(service('orders', [{ name: 'http', port: 80 }]))!;
    const route = httpRoute('split', { parentRefs: [{ kind: 'Service', name: 'orders' }], rules: [{ backendRefs: [{ name: 'orders', port: 80 }] }] });
    const broken = httpRoute('broken', { parentRefs: [{ kind: 'Service', name: 'orders' }], rules: [{ backendRefs: [{ name: 'nope', port: 80 }] }] });
    const out = assembleModel({ ...empty, services: [native], httpRoutes: [route, broken] }, emptyLastGood());
    expect(out.model.routes.map((r) => r.name)).toEqual(['split']);
    const brokenReport = out.reports.find((r) => r.object.name === 'broken')!;
    expect(brokenReport.unresolved.map((e) => e.path)).toEqual(['spec.rules[0].backendRefs[0]']);
    expect(brokenReport.servedGeneration).toBeUndefined();
  });

  it('an HTTPRoute the Gateway API CRD admits but Envoy would refuse (Host set, :path removed, 100000000h) is not Accepted, naming each field; the other route serves', () => {
    const native = projectService(service('orders', [{ name: 'http', port: 80 }]))!;
    const good = httpRoute('good', { parentRefs: [{ kind: 'Service', name: 'orders' }], rules: [{ backendRefs: [{ name: 'orders', port: 80 }] }] });
    const evil = httpRoute('evil', {
      parentRefs: [{ kind: 'Service', name: 'orders' }],
      rules: [
        {
          timeouts: { request: '100000000h' },
          filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'Host', value: 'evil' }], remove: [':path'] } }],
          backendRefs: [{ name: 'orders', port: 80 }],
        },
      ],
    });
    const out = assembleModel({ ...empty, services: [native], httpRoutes: [evil, good] }, emptyLastGood());
    expect(out.model.routes.map((r) => r.name)).toEqual(['good']);
    const evilReport = out.reports.find((r) => r.object.name === 'evil')!;
    expect(evilReport.invalid.map((e) => e.path)).toEqual([
      'spec.rules[0].timeouts.request',
      'spec.rules[0].filters[0].requestHeaderModifier.set[0].name',
      'spec.rules[0].filters[0].requestHeaderModifier.remove[0]',
    ]);
    const accepted = httpRouteStatus(evilReport, '2026-01-01T00:00:00Z').parents[0]?.conditions.find((c) => c.type === 'Accepted');
    expect(accepted).toMatchObject({ status: 'False', reason: 'Invalid' });
    expect(accepted?.message).toContain('spec.rules[0].filters[0].requestHeaderModifier.set[0].name: the Host header cannot be set');
  });
});

const report = (overrides: Partial<ObjectReport>): ObjectReport => ({
  object: meshServiceObject('payments', goodSpec, 2),
  invalid: [],
  unresolved: [],
  servedGeneration: 2,
  endpoints: 1,
  ...overrides,
});

describe('status', () => {
  const now = '2026-01-01T00:00:00Z';

  it('an accepted, served object: all conditions True, with endpoint and proxy counts', () => {
    const status = meshServiceStatus(report({}), { synced: 2, stale: 0, nacked: 1 }, now);
    expect(status.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Accepted', 'True', 'Accepted'],
      ['ResolvedRefs', 'True', 'ResolvedRefs'],
      ['Programmed', 'True', 'Programmed'],
    ]);
    expect(status).toMatchObject({ observedGeneration: 2, endpoints: 1, proxies: { synced: 2, stale: 0, nacked: 1 } });
  });

  it('a rejected generation names the field and says which generation keeps serving', () => {
    const error = { source: 's', object: 'MeshService shop/payments', path: 'spec.endpoints[0].ports.metrics', message: 'no service port named metrics' };
    const conditions = objectConditions(report({ invalid: [error], servedGeneration: 1 }), [], now);
    expect(conditions[0]).toMatchObject({
      type: 'Accepted',
      status: 'False',
      reason: 'Invalid',
      message: 'spec.endpoints[0].ports.metrics: no service port named metrics',
    });
    expect(conditions[2]).toMatchObject({ type: 'Programmed', status: 'False', reason: 'ServingLastAccepted' });
  });

  it('lastTransitionTime is kept while a condition keeps its status', () => {
    const first = objectConditions(report({}), [], '2020-01-01T00:00:00Z');
    const again = objectConditions(report({}), first, now);
    expect(again.map((c) => c.lastTransitionTime)).toEqual(first.map((c) => c.lastTransitionTime));
    const error = { source: 's', object: 'o', path: 'spec', message: 'bad' };
    const flipped = objectConditions(report({ invalid: [error] }), first, now);
    expect(flipped[0]?.lastTransitionTime).toBe(now);
  });

  it('HTTPRoute status: one entry per parentRef under our controllerName; other controllers’ entries are kept', () => {
    const theirs = { parentRef: { name: 'gw' }, controllerName: 'example.com/gateway', conditions: [] };
    const route = httpRoute('split', { parentRefs: [{ kind: 'Service', name: 'orders', port: 80 }] }, { parents: [theirs] });
    const status = httpRouteStatus({ object: route, invalid: [], unresolved: [], servedGeneration: 1 }, now);
    expect(status.parents[0]).toEqual(theirs);
    expect(status.parents[1]).toMatchObject({ parentRef: { group: '', kind: 'Service', name: 'orders', port: 80 }, controllerName: CONTROLLER_NAME });
  });

  it('stableJson ignores key order', () => {
    expect(stableJson({ b: 1, a: [{ d: 1, c: 2 }] })).toBe(stableJson({ a: [{ c: 2, d: 1 }], b: 1 }));
  });
});

describe('small helpers', () => {
  it('backoff doubles up to the cap, with ±20 % jitter', () => {
    const b = { initialMs: 100, maxMs: 1000 };
    expect([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(b, n, () => 0.5))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(b, 0, () => 0)).toBe(80);
    expect(backoffDelay(b, 0, () => 1)).toBe(120);
  });

  it('microTime has microseconds', () => {
    expect(microTime(new Date('2026-01-02T03:04:05.678Z'))).toBe('2026-01-02T03:04:05.678000Z');
  });

  it('lastGood is keyed by uid', () => {
    const { lastGood } = assembleModel({ ...empty, meshServices: [meshServiceObject('payments', goodSpec)] }, emptyLastGood());
    expect([...lastGood.versions.keys()]).toEqual(['uid-payments']);
  });
});
