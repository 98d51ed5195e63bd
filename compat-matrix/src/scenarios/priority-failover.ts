/**
 * Locality failover and recovery, counted from the upstream servers' own request
 * counters: a proxy in eu-1a uses its zone (P0); when those endpoints fail their
 * active health checks it moves to the same region, eu-1b (P1); when that endpoint
 * is marked `health: Unhealthy` in the source it moves to another region (P2);
 * recovery moves it back to eu-1a. Each step waits on Envoy's /clusters health
 * flags, then on traffic settling (Envoy's workers apply host health shortly after
 * the admin view changes), then counts a fresh batch.
 */
import type { CellContext, Scenario } from '../scenario.js';
import type { Upstream } from '../support/upstream.js';
import { assert } from './_common.js';

const HOST = 'orders.shop';
const PATH = '/work';

function mesh(zoneA: Upstream[], zoneB: Upstream, remote: Upstream, zoneBHealth: 'Healthy' | 'Unhealthy'): string {
  return `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: orders, namespace: shop}
spec:
  ports: [{name: http, port: 8080}]
  failover: {localityPriority: [zone, region]}
  # A 503 fails a host at the next check (200 ms); the 1 s timeout keeps a slow answer on a
  # busy machine from failing one.
  healthCheck: {path: /health, interval: 200ms, timeout: 1s, unhealthyThreshold: 1, healthyThreshold: 1}
  endpoints:
${zoneA.map((u) => `    - {address: 127.0.0.1, port: ${u.port}, locality: {region: eu, zone: eu-1a}}`).join('\n')}
    - {address: 127.0.0.1, port: ${zoneB.port}, locality: {region: eu, zone: eu-1b}, health: ${zoneBHealth}}
    - {address: 127.0.0.1, port: ${remote.port}, locality: {region: us, zone: us-1a}}
`;
}

/** Requests each upstream served (from its own counter) while `count` requests went through Envoy; non-200s are counted as "HTTP nnn". */
async function served(cell: CellContext, all: Upstream[], count: number): Promise<Record<string, number>> {
  const before = all.map((u) => u.requests);
  const statuses: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const { status } = await cell.envoy.request(HOST, PATH);
    if (status !== 200) statuses[`HTTP ${status}`] = (statuses[`HTTP ${status}`] ?? 0) + 1;
  }
  return { ...Object.fromEntries(all.map((u, i) => [u.name, u.requests - (before[i] ?? 0)])), ...statuses };
}

/**
 * Waits until a batch of 10 requests reaches only `targets`, every one of them (Envoy's
 * workers apply host health a moment after the admin view shows it; a batch that happens
 * to miss a still-excluded target is not enough).
 */
function settlesOn(cell: CellContext, all: Upstream[], targets: Upstream[], what: string): Promise<Record<string, number>> {
  return cell.waitFor(what, async () => {
    const counts = await served(cell, all, 10);
    const onTarget = targets.reduce((sum, u) => sum + (counts[u.name] ?? 0), 0);
    // The error (not a bare false) is what a timeout reports as last seen.
    if (onTarget !== 10 || targets.some((u) => !counts[u.name])) throw new Error(`last batch of 10: ${JSON.stringify(counts)}`);
    return counts;
  });
}

/** Envoy's /clusters health_flags lines for the orders cluster, keyed by host:port. */
async function healthFlags(cell: CellContext): Promise<Map<string, string>> {
  const flags = new Map<string, string>();
  for (const line of (await cell.envoy.admin('/clusters')).split('\n')) {
    const match = /^orders\.shop:8080::(\d+\.\d+\.\d+\.\d+:\d+)::health_flags::(.*)$/.exec(line);
    if (match) flags.set(match[1] as string, (match[2] as string).trim());
  }
  return flags;
}

export const scenarios: Scenario[] = [
  {
    id: 'priority-failover',
    title: 'priority failover: zone (P0) → region on failed health checks (P1) → other region on source Unhealthy (P2) → recovery',
    order: 80,
    async run(cell) {
      const zoneA = [await cell.upstream('a1'), await cell.upstream('a2')];
      const zoneB = await cell.upstream('b1');
      const remote = await cell.upstream('us1');
      const all = [...zoneA, zoneB, remote];
      const addr = (u: Upstream) => `127.0.0.1:${u.port}`;
      await cell.start({ mesh: mesh(zoneA, zoneB, remote, 'Healthy'), region: 'eu', zone: 'eu-1a' });
      await cell.waitFor('every endpoint to pass its first health check', async () => {
        const flags = await healthFlags(cell);
        const seen = all.every((u) => u.healthChecks > 0) && flags.size === all.length && [...flags.values()].every((f) => f === 'healthy');
        if (!seen) throw new Error(`health checks ${all.map((u) => `${u.name}=${u.healthChecks}`).join(' ')}, /clusters ${JSON.stringify([...flags])}`);
        return true;
      });

      // P0: only the proxy's own zone.
      const p0 = await served(cell, all, 60);
      cell.note('P0 (eu-1a)', JSON.stringify(p0));
      assert.equal((p0.a1 ?? 0) + (p0.a2 ?? 0), 60, `P0: all 60 requests to eu-1a, got ${JSON.stringify(p0)}`);
      assert.ok((p0.a1 ?? 0) > 0 && (p0.a2 ?? 0) > 0, `P0: both eu-1a endpoints serve, got ${JSON.stringify(p0)}`);

      // P1: eu-1a fails its health checks → the same region.
      for (const u of zoneA) u.healthy = false;
      await cell.waitFor('Envoy to mark both eu-1a endpoints failed_active_hc', async () => {
        const flags = await healthFlags(cell);
        return zoneA.every((u) => flags.get(addr(u))?.includes('failed_active_hc')) && flags;
      });
      await settlesOn(cell, all, [zoneB], 'traffic to leave eu-1a for eu-1b');
      const p1 = await served(cell, all, 40);
      cell.note('P1 (eu-1b)', JSON.stringify(p1));
      assert.deepEqual(p1, { a1: 0, a2: 0, b1: 40, us1: 0 }, 'P1: every request to eu-1b');

      // P2: eu-1b marked Unhealthy in the source → EDS health → another region.
      cell.writeMesh(mesh(zoneA, zoneB, remote, 'Unhealthy'));
      await cell.waitFor('Envoy to see eu-1b as unhealthy via EDS (failed_eds_health)', async () =>
        (await healthFlags(cell)).get(addr(zoneB))?.includes('failed_eds_health'),
      );
      await settlesOn(cell, all, [remote], 'traffic to leave eu-1b for us-1a');
      const p2 = await served(cell, all, 40);
      cell.note('P2 (us-1a)', JSON.stringify(p2));
      assert.deepEqual(p2, { a1: 0, a2: 0, b1: 0, us1: 40 }, 'P2: every request to us-1a');

      // Recovery: eu-1a healthy again, eu-1b Healthy in the source → back to P0.
      for (const u of zoneA) u.healthy = true;
      cell.writeMesh(mesh(zoneA, zoneB, remote, 'Healthy'));
      await cell.waitFor('every endpoint healthy again in /clusters', async () => {
        const flags = await healthFlags(cell);
        return flags.size === all.length && [...flags.values()].every((f) => f === 'healthy');
      });
      await settlesOn(cell, all, zoneA, 'traffic to return to eu-1a');
      const back = await served(cell, all, 40);
      cell.note('recovered (eu-1a)', JSON.stringify(back));
      assert.equal(
        (back.a1 ?? 0) + (back.a2 ?? 0),
        40,
        `after recovery all 40 requests to eu-1a, got ${JSON.stringify(back)}; /clusters now ${JSON.stringify([...(await healthFlags(cell))])}`,
      );
      await cell.waitSynced('every type SYNCED after recovery');
    },
  },
];
