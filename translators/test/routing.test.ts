/** GEP-1294 namespace boundaries through the real translator: who sees which route. */
import type { RouteConfiguration } from '@meshcp/xds-protos';
import { describe, expect, it } from 'vitest';
import { envoyProfile, parseManifests, proxyFromNode, translateEnvoyConfig } from '../src/index.js';

const manifests = [
  {
    kind: 'MeshService',
    metadata: { name: 'payments', namespace: 'shop' },
    spec: { ports: [{ port: 8080 }], endpoints: [{ address: '10.0.0.1', port: 8080 }] },
  },
  {
    kind: 'MeshService',
    metadata: { name: 'payments-v2', namespace: 'shop' },
    spec: { ports: [{ port: 8080 }], endpoints: [{ address: '10.0.0.2', port: 8080 }] },
  },
  {
    kind: 'MeshService',
    metadata: { name: 'evil', namespace: 'attacker' },
    spec: { ports: [{ port: 8080 }], endpoints: [{ address: '10.6.6.6', port: 8080 }] },
  },
  {
    kind: 'MeshService',
    metadata: { name: 'canary', namespace: 'frontend' },
    spec: { ports: [{ port: 8080 }], endpoints: [{ address: '10.0.0.3', port: 8080 }] },
  },
  // Producer route: the service owner's, for every caller.
  {
    kind: 'HTTPRoute',
    metadata: { name: 'split', namespace: 'shop' },
    spec: {
      parentRefs: [{ kind: 'Service', name: 'payments' }],
      rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/v2' } }], backendRefs: [{ name: 'payments-v2', port: 8080 }] }],
    },
  },
  // Consumer route of the attacker namespace: must change nothing for anyone else.
  {
    kind: 'HTTPRoute',
    metadata: { name: 'hijack', namespace: 'attacker' },
    spec: {
      parentRefs: [{ kind: 'Service', name: 'payments', namespace: 'shop' }],
      rules: [
        {
          backendRefs: [{ name: 'evil', port: 8080 }],
          filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-injected', value: '1' }] } }],
        },
      ],
    },
  },
  // Consumer route of the frontend namespace: applies to frontend's callers instead of the producer route.
  {
    kind: 'HTTPRoute',
    metadata: { name: 'mine', namespace: 'frontend' },
    spec: { parentRefs: [{ kind: 'Service', name: 'payments', namespace: 'shop' }], rules: [{ backendRefs: [{ name: 'canary', port: 8080 }] }] },
  },
];

function routesSeenFrom(namespace: string): string {
  const parsed = parseManifests(
    manifests.map((doc) => ({
      source: 'routing.yaml',
      doc: { apiVersion: doc.kind === 'HTTPRoute' ? 'gateway.networking.k8s.io/v1' : 'meshcp.io/v1alpha1', ...doc },
    })),
  );
  expect(parsed.errors).toEqual([]);
  const proxy = proxyFromNode({
    id: namespace,
    user_agent_name: 'envoy',
    user_agent_build_version: { version: { major_number: 1, minor_number: 40 } },
    metadata: { 'meshcp.namespace': namespace },
  });
  const [config] = translateEnvoyConfig(parsed.model, proxy, envoyProfile(proxy)).routes as [RouteConfiguration];
  const payments = config.virtual_hosts?.find((vh) => vh.name === 'payments.shop:8080');
  return JSON.stringify(payments?.routes);
}

describe('routes across namespaces (GEP-1294)', () => {
  it('a producer route applies to callers in every namespace without a consumer route of their own', () => {
    for (const namespace of ['shop', 'default', 'billing']) {
      const seen = routesSeenFrom(namespace);
      expect(seen, namespace).toContain('payments-v2.shop:8080');
      expect(seen, namespace).not.toContain('evil');
      expect(seen, namespace).not.toContain('x-injected');
      expect(seen, namespace).not.toContain('canary');
    }
  });

  it("a consumer route applies only to its own namespace's callers, in place of the producer route", () => {
    const attacker = routesSeenFrom('attacker');
    expect(attacker).toContain('evil.attacker:8080');
    expect(attacker).not.toContain('payments-v2');
    const frontend = routesSeenFrom('frontend');
    expect(frontend).toContain('canary.frontend:8080');
    expect(frontend).not.toContain('evil');
  });
});
