/**
 * KubernetesSource against a real kube-apiserver + etcd (k8s/scripts): initial
 * sync, only-used-fields, a CRD that appears later, and the API server going
 * away with etcd compacted meanwhile (410 Gone → relist) without ever
 * publishing a partial or empty model; a TCP port conflict between MeshServices.
 */
import { join } from 'node:path';
import type { SourceResult } from '@meshcp/translators';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesSource, TestApiServer } from '../src/index.js';

const CRDS = join(import.meta.dirname, '..', 'crds');
const TEST_HTTPROUTE_CRD = join(import.meta.dirname, 'fixtures', 'httproutes-crd.yaml');

async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value as T;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `; last error: ${last}` : ''}`);
}

function meshServiceYaml(name: string, port: number): string {
  return `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: ${name}, namespace: shop}
spec:
  ports: [{name: http, port: 8080}]
  endpoints: [{address: 127.0.0.1, port: ${port}}]
---
`;
}

const NATIVE = `apiVersion: v1
kind: Service
metadata: {name: orders, namespace: shop, labels: {app: orders}}
spec:
  ports: [{name: http, port: 80, targetPort: 9000}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: orders-1, namespace: shop, labels: {kubernetes.io/service-name: orders}}
addressType: IPv4
ports: [{name: http, port: 9000}]
endpoints:
- {addresses: [192.0.2.10], conditions: {ready: true}, nodeName: node-a}
---
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {topology.kubernetes.io/zone: eu-1a, topology.kubernetes.io/region: eu}}
`;

describe('KubernetesSource on a real API server', () => {
  let api: TestApiServer;
  let source: KubernetesSource;
  const results: SourceResult[] = [];
  const expected = ['shop/a', 'shop/b', 'shop/c', 'shop/orders'];

  beforeAll(async () => {
    api = await TestApiServer.start();
    await api.kubectlOk(['apply', '-f', join(CRDS, 'meshservices.meshcp.io.yaml')]);
    await api.kubectlOk(['wait', '--for=condition=Established', 'crd/meshservices.meshcp.io', '--timeout=30s']);
    await api.kubectlOk(['create', 'namespace', 'shop']);
    await api.kubectlOk(['apply', '-f', '-'], meshServiceYaml('a', 9001) + meshServiceYaml('b', 9002) + meshServiceYaml('c', 9003) + NATIVE);
  });

  afterAll(async () => {
    source?.stop();
    await api?.destroy();
  });

  it('start() resolves after the initial lists; the first model is complete', async () => {
    source = new KubernetesSource(api.client(), { backoff: { initialMs: 100, maxMs: 1000 }, absentRecheckMs: 300, watchTimeoutSeconds: 60 });
    await source.start((result) => results.push(result));
    expect(results).toHaveLength(1);
    const first = results[0]!;
    expect([...first.model.services.keys()].filter((k) => k.startsWith('shop/'))).toEqual(expected);
    expect(first.errors).toEqual([]);
    const orders = first.model.services.get('shop/orders')!;
    expect(orders.endpoints).toEqual([{ address: '192.0.2.10', ports: { http: 9000 }, locality: { region: 'eu', zone: 'eu-1a' }, health: 'Healthy' }]);
  });

  it('a change to a field meshcp does not read triggers no new model; a change it reads does', async () => {
    const before = source.published;
    const ignoredBefore = source.informerStats().find((s) => s.resource === 'services')!.ignored;
    await api.kubectlOk(['label', '-n', 'shop', 'service', 'orders', 'tier=backend']);
    await api.kubectlOk(['label', 'node', 'node-a', 'kubernetes.io/hostname=node-a']);
    await waitFor(
      'the label change to reach the informer (and be ignored)',
      () => source.informerStats().find((s) => s.resource === 'services')!.ignored > ignoredBefore,
    );
    await waitFor('the node change to be ignored', () => source.informerStats().find((s) => s.resource === 'nodes')!.ignored > 0);
    expect(source.published).toBe(before);

    await api.kubectlOk(['label', 'node', 'node-a', 'topology.kubernetes.io/zone=eu-1b', '--overwrite']);
    const changed = await waitFor('a model with the new zone', () =>
      results.at(-1)?.model.services.get('shop/orders')?.endpoints[0]?.locality.zone === 'eu-1b' ? results.at(-1) : undefined,
    );
    expect(changed).toBeDefined();
    expect(source.published).toBe(before + 1);
  });

  it('picks up the HTTPRoute CRD when it is installed later', async () => {
    // Not there yet: absent, or in one of its periodic looks for the CRD.
    expect(['absent', 'listing']).toContain(source.informerStats().find((s) => s.resource.startsWith('httproutes'))!.state);
    await api.kubectlOk(['apply', '-f', TEST_HTTPROUTE_CRD]);
    await api.kubectlOk(['wait', '--for=condition=Established', 'crd/httproutes.gateway.networking.k8s.io', '--timeout=30s']);
    await api.kubectlOk(
      ['apply', '-f', '-'],
      `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: split, namespace: shop}
spec:
  parentRefs: [{kind: Service, name: a}]
  rules: [{backendRefs: [{name: b, port: 8080, weight: 90}, {name: orders, port: 80, weight: 10}]}]
`,
    );
    const withRoute = await waitFor('the route in the model', () => results.at(-1)?.model.routes.find((r) => r.name === 'split'));
    expect(withRoute.rules[0]?.backends.map((b) => b.name)).toEqual(['b', 'orders']);
  });

  it('reads MeshAccessPolicies (the CRD from k8s/crds) into the model', async () => {
    await api.kubectlOk(['apply', '-f', join(CRDS, 'meshaccesspolicies.meshcp.io.yaml')]);
    await api.kubectlOk(['wait', '--for=condition=Established', 'crd/meshaccesspolicies.meshcp.io', '--timeout=30s']);
    await api.kubectlOk(
      ['apply', '-f', '-'],
      `apiVersion: meshcp.io/v1alpha1
kind: MeshAccessPolicy
metadata: {name: a-callers, namespace: shop}
spec:
  targetRef: {kind: MeshService, name: a}
  rules: [{from: [{serviceAccounts: [shop/frontend]}]}]
`,
    );
    const withPolicy = await waitFor('the policy in the model', () => results.at(-1)?.model.policies?.find((p) => p.name === 'a-callers'));
    expect(withPolicy).toMatchObject({ namespace: 'shop', target: 'a', rules: [{ from: [{ serviceAccounts: [{ namespace: 'shop', name: 'frontend' }] }] }] });
    expect(results.at(-1)?.model.policies?.map((p) => p.name)).toEqual(['a-callers']);
    expect(results.at(-1)?.errors).toEqual([]);
  });

  it('two MeshServices claiming one TCP port: the one serving keeps it, the newcomer is rejected with a field path', async () => {
    const tcp = (name: string) => `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: ${name}, namespace: shop}
spec:
  ports: [{name: sql, port: 5432, protocol: TCP}]
  endpoints: [{address: 127.0.0.1, port: 15432}]
`;
    await api.kubectlOk(['apply', '-f', '-'], tcp('db-z'));
    await waitFor('db-z in the model', () => results.at(-1)?.model.services.has('shop/db-z'));
    const since = results.length - 1;
    // The newcomer sorts first, yet the incumbent keeps the port.
    await api.kubectlOk(['apply', '-f', '-'], tcp('db-a'));
    const conflict = await waitFor('the conflict reported', () => results.at(-1)?.errors.find((e) => e.object === 'MeshService shop/db-a'));
    expect(conflict).toMatchObject({ path: 'spec.ports[0].port', reason: 'conflict' });
    expect(conflict.message).toContain('already taken by MeshService shop/db-z');
    const report = source.reports().find((r) => r.object.name === 'db-a');
    expect(report?.invalid).toEqual([conflict]);
    expect(report?.servedGeneration).toBeUndefined();
    await api.kubectlOk(['delete', 'meshservice', '-n', 'shop', 'db-a']);
    await waitFor(`the conflict cleared (errors: ${JSON.stringify(results.at(-1)?.errors)})`, () => results.at(-1)?.errors.length === 0);
    for (const result of results.slice(since)) {
      expect(result.model.services.has('shop/db-z')).toBe(true);
      expect(result.model.services.has('shop/db-a')).toBe(false);
    }
  });

  it('API server stopped, etcd compacted, API server back: relists on 410 Gone, never publishes a partial or empty model', async () => {
    const publishedBefore = results.length;
    const listsBefore = source.informerStats().find((s) => s.resource === 'meshservices.meshcp.io')!.lists;
    // Move etcd's revision past every informer's resourceVersion with objects the informers do not watch.
    for (let i = 0; i < 3; i++) await api.kubectlOk(['create', 'configmap', `filler-${i}`, '-n', 'shop', '--from-literal=x=1']);
    await api.stop({ keepEtcd: true, graceSeconds: 3 });
    await waitFor('every informer to notice', () => source.informerStats().every((s) => s.state === 'disconnected'), 15_000);
    await api.compactEtcd(await api.etcdRevision());
    const restarted = Date.now();
    await api.startAgain();
    await waitFor(
      `a relist of meshservices after 410 Gone (informers: ${JSON.stringify(source.informerStats())})`,
      () => source.informerStats().find((s) => s.resource === 'meshservices.meshcp.io')!.lists > listsBefore,
      30_000,
    );
    const relistMs = Date.now() - restarted;
    // Catches up: a change made now arrives.
    await api.kubectlOk(['apply', '-f', '-'], meshServiceYaml('d', 9004));
    await waitFor('MeshService d in the model', () => results.at(-1)?.model.services.has('shop/d'));
    const caughtUpMs = Date.now() - restarted;
    for (const result of results.slice(publishedBefore)) {
      for (const key of expected) expect(result.model.services.has(key), `${key} in every model published`).toBe(true);
    }
    console.log(`after the API server was ready again: relisted in ${relistMs} ms, a new object arrived in ${caughtUpMs} ms`);
  }, 120_000);
});
