/**
 * The 90/10 weighted split measured over 1,000 requests on a real Envoy, counted from
 * the upstream servers' own request counters. (The matrix's weighted-split scenario runs
 * 200 requests per version; priority failover moved to the matrix: compat-matrix
 * scenario priority-failover.)
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Cleanup, type EnvoyProcess, startEnvoy, startUpstream, type Upstream, waitFor } from '../src/harness.js';
import { startPlane } from '../src/plane.js';

async function send(envoy: EnvoyProcess, host: string, count: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < count; i++) if ((await envoy.request(host, '/work')).status === 200) ok++;
  return ok;
}

/** Requests each upstream served while `run` ran. */
async function served(upstreams: Upstream[], run: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = upstreams.map((u) => u.requests);
  await run();
  return Object.fromEntries(upstreams.map((u, i) => [u.name, u.requests - (before[i] ?? 0)]));
}

describe('weighted split on a real Envoy', () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.run());

  it('90/10 over 1,000 requests lands within ±4 standard deviations (v2 share 62-138 of 1,000)', async () => {
    const v1 = await startUpstream('v1', cleanup);
    const v2 = await startUpstream('v2', cleanup);
    const yaml = [v1, v2]
      .map(
        (u) => `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: ${u.name === 'v1' ? 'checkout' : 'checkout-v2'}, namespace: shop}
spec:
  ports: [{name: http, port: 8080}]
  endpoints: [{address: 127.0.0.1, port: ${u.port}, locality: {region: eu, zone: eu-1a}}]
`,
      )
      .concat(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: checkout-split, namespace: shop}
spec:
  parentRefs: [{name: checkout}]
  rules:
    - backendRefs: [{name: checkout, port: 8080, weight: 90}, {name: checkout-v2, port: 8080, weight: 10}]
`)
      .join('---\n');
    const test = await startPlane(yaml, cleanup);
    const envoy = await startEnvoy({ xdsPort: test.plane.xdsPort, nodeId: 'split' }, cleanup);
    await waitFor('the split route to serve', async () => (await envoy.request('checkout.shop', '/')).status === 200);
    const counts = await served([v1, v2], () => send(envoy, 'checkout.shop', 1000));
    // Binomial(1000, 0.1): mean 100, standard deviation 9.5.
    expect(counts.v1! + counts.v2!).toBe(1000);
    expect(counts.v2).toBeGreaterThanOrEqual(62);
    expect(counts.v2).toBeLessThanOrEqual(138);
  });
});
