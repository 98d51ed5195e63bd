/**
 * Locality failover on a real Envoy, counted from the upstream servers' own request
 * counters: a proxy in eu-1a uses its zone (P0); when those endpoints fail their
 * health checks it moves to the same region (P1); when that endpoint is marked
 * Unhealthy in the source it moves to the rest (P2); recovery moves it back.
 * Also the 90/10 weighted split measured over 1,000 requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup, type EnvoyProcess, startEnvoy, startUpstream, type Upstream, waitFor } from '../src/harness.js';
import { startPlane, type TestPlane } from '../src/plane.js';

async function send(envoy: EnvoyProcess, host: string, count: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < count; i++) if ((await envoy.request(host, '/work')).status === 200) ok++;
  return ok;
}

/** Waits until a batch of requests reaches only `targets` (Envoy's workers apply host health shortly after the admin view). */
async function trafficSettlesOn(envoy: EnvoyProcess, all: Upstream[], targets: Upstream[], what: string): Promise<void> {
  await waitFor(what, async () => {
    const counts = await served(all, () => send(envoy, 'orders.shop', 10));
    return all.every((u) => targets.includes(u) || counts[u.name] === 0) && counts;
  });
}

/** Requests each upstream served while `run` ran. */
async function served(upstreams: Upstream[], run: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = upstreams.map((u) => u.requests);
  await run();
  return Object.fromEntries(upstreams.map((u, i) => [u.name, u.requests - (before[i] ?? 0)]));
}

describe('priority failover on a real Envoy', () => {
  const cleanup = new Cleanup();
  let test: TestPlane;
  let envoy: EnvoyProcess;
  let zoneA: Upstream[];
  let zoneB: Upstream;
  let remote: Upstream;
  let all: Upstream[];

  const mesh = (zoneBHealth: 'Healthy' | 'Unhealthy') => `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: orders, namespace: shop}
spec:
  ports: [{name: http, port: 8080}]
  failover: {localityPriority: [zone, region]}
  healthCheck: {path: /health, interval: 200ms, timeout: 150ms, unhealthyThreshold: 1, healthyThreshold: 1}
  endpoints:
${zoneA.map((u) => `    - {address: 127.0.0.1, port: ${u.port}, locality: {region: eu, zone: eu-1a}}`).join('\n')}
    - {address: 127.0.0.1, port: ${zoneB.port}, locality: {region: eu, zone: eu-1b}, health: ${zoneBHealth}}
    - {address: 127.0.0.1, port: ${remote.port}, locality: {region: us, zone: us-1a}}
`;

  beforeAll(async () => {
    zoneA = [await startUpstream('a1', cleanup), await startUpstream('a2', cleanup)];
    zoneB = await startUpstream('b1', cleanup);
    remote = await startUpstream('us1', cleanup);
    all = [...zoneA, zoneB, remote];
    test = await startPlane(mesh('Healthy'), cleanup);
    envoy = await startEnvoy({ xdsPort: test.plane.xdsPort, nodeId: 'failover', region: 'eu', zone: 'eu-1a' }, cleanup);
    await waitFor(
      'every endpoint to pass its first health check',
      async () => all.every((u) => u.healthChecks > 0) && !(await envoy.admin('/clusters')).includes('failed_active_hc'),
    );
  });

  afterAll(() => cleanup.run());

  it('P0: a proxy in eu-1a uses only eu-1a endpoints', async () => {
    const counts = await served(all, () => send(envoy, 'orders.shop', 60));
    expect(counts.a1! + counts.a2!).toBe(60);
    expect(counts.a1).toBeGreaterThan(0);
    expect(counts.a2).toBeGreaterThan(0);
  });

  it('P1: when eu-1a fails its health checks, traffic moves to eu-1b', async () => {
    for (const u of zoneA) u.healthy = false;
    await waitFor(
      'Envoy to mark both eu-1a endpoints failed_active_hc',
      async () => ((await envoy.admin('/clusters')).match(/failed_active_hc/g) ?? []).length === 2,
    );
    await trafficSettlesOn(envoy, all, [zoneB], 'traffic to leave eu-1a');
    const counts = await served(all, () => send(envoy, 'orders.shop', 40));
    expect(counts).toEqual({ a1: 0, a2: 0, b1: 40, us1: 0 });
  });

  it('P2: when eu-1b is marked Unhealthy in the source, traffic moves to another region', async () => {
    test.write(mesh('Unhealthy'));
    await waitFor('Envoy to see eu-1b as unhealthy via EDS', async () =>
      (await envoy.admin('/clusters')).includes(`127.0.0.1:${zoneB.port}::health_flags::/failed_eds_health`),
    );
    await trafficSettlesOn(envoy, all, [remote], 'traffic to leave eu-1b');
    const counts = await served(all, () => send(envoy, 'orders.shop', 40));
    expect(counts).toEqual({ a1: 0, a2: 0, b1: 0, us1: 40 });
  });

  it('recovery moves traffic back to eu-1a', async () => {
    for (const u of zoneA) u.healthy = true;
    test.write(mesh('Healthy'));
    await waitFor('eu-1a to pass health checks again', async () => !(await envoy.admin('/clusters')).includes('failed_'));
    await trafficSettlesOn(envoy, all, zoneA, 'traffic to return to eu-1a');
    const counts = await served(all, () => send(envoy, 'orders.shop', 40));
    expect(counts.a1! + counts.a2!).toBe(40);
  });
});

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
