/**
 * 100 endpoint changes under steady traffic, each one seen by Envoy before the
 * next: no request may fail (no empty ClusterLoadAssignment, no warming gap).
 */
import type { Scenario, TrafficResult } from '../scenario.js';
import { meshYaml } from '../support/mesh.js';
import type { Upstream } from '../support/upstream.js';
import { assert, expectNoFailures } from './_common.js';

const CHANGES = 100;

/** Change i: a rotating window of two or three of the four upstreams (never empty, always live). */
function endpointsFor(i: number, pool: Upstream[]): Upstream[] {
  const size = 2 + (i % 2);
  return Array.from({ length: size }, (_, k) => pool[(i + k) % pool.length] as Upstream);
}

export const scenarios: Scenario[] = [
  {
    id: 'endpoint-churn',
    title: `endpoint churn (${CHANGES} changes) with no failed request`,
    order: 40,
    timeoutMs: 180_000,
    async run(cell) {
      const pool: Upstream[] = [];
      for (let k = 0; k < 4; k++) pool.push(await cell.upstream(`churn-${k}`));
      const mesh = (i: number) => meshYaml([{ name: 'churn', endpoints: endpointsFor(i, pool).map((u) => ({ port: u.port })) }]);
      await cell.start({ mesh: mesh(0) });
      const traffic = cell.traffic('churn.shop', '/');
      const t0 = Date.now();
      let result: TrafficResult;
      try {
        for (let i = 1; i <= CHANGES; i++) {
          const want = endpointsFor(i, pool)
            .map((u) => `127.0.0.1:${u.port}`)
            .sort();
          cell.writeMesh(mesh(i));
          await cell.waitFor(
            `change ${i}/${CHANGES}: Envoy /clusters = ${want.join(',')}`,
            async () => {
              const hosts = [...((await cell.envoy.clusterHosts()).get('churn.shop:8080') ?? [])].sort().join(',');
              if (hosts !== want.join(',')) throw new Error(`Envoy has ${hosts || 'no hosts'}`);
              return true;
            },
            15_000,
            25,
          );
        }
      } finally {
        result = await traffic.stop();
      }
      cell.note('churn', `${CHANGES} changes in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${result.ok} requests OK`);
      expectNoFailures(`traffic during ${CHANGES} endpoint changes`, result, 50);
      const served = Object.keys(result.bodies).sort();
      assert.deepEqual(served, ['churn-0', 'churn-1', 'churn-2', 'churn-3'], 'traffic reached every upstream over the churn');
      await cell.waitSynced('every type SYNCED after the churn');
    },
  },
];
