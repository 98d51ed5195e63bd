/**
 * Resource removal: a route, then a whole service (cluster, endpoints, virtual
 * host) leave Envoy; re-adding the service brings its endpoints back
 * (go-control-plane #583). Run in both ADS modes: Delta removals are their own code path.
 */
import type { Scenario } from '../scenario.js';
import { assert, expectAnswer, paymentsMesh } from './_common.js';

function removal(mode: 'sotw' | 'delta'): Scenario {
  return {
    id: `removal-${mode}`,
    title: `resource removal and re-add (${mode === 'sotw' ? 'SotW' : 'Delta'})`,
    order: mode === 'sotw' ? 60 : 61,
    async run(cell) {
      const payments = await cell.upstream('payments');
      const v2 = await cell.upstream('payments-v2');
      await cell.start({ mesh: paymentsMesh([payments], v2, { v2: 100, v1: 0 }), delta: mode === 'delta' });
      await expectAnswer(cell, 'payments.shop', '/v2/a', 200, 'payments-v2');

      // 1. The HTTPRoute goes: /v2 falls back to the Service's default route.
      cell.writeMesh(paymentsMesh([payments], v2));
      await cell.waitFor(
        '/v2 to reach payments once the route is removed',
        async () => (await cell.envoy.request('payments.shop', '/v2/a')).body === 'payments',
      );
      await expectAnswer(cell, 'payments-v2.shop', '/', 200, 'payments-v2');

      // 2. The payments-v2 service goes: its cluster and virtual host leave Envoy.
      cell.writeMesh(paymentsMesh([payments], undefined));
      await cell.waitFor('Envoy /clusters to drop payments-v2', async () => {
        const hosts = await cell.envoy.clusterHosts();
        return hosts.has('payments.shop:8080') && !hosts.has('payments-v2.shop:8080');
      });
      await cell.waitFor('payments-v2.shop to answer 404', async () => (await cell.envoy.request('payments-v2.shop', '/')).status === 404);
      await expectAnswer(cell, 'payments.shop', '/', 200, 'payments');
      const types = await cell.waitSynced('every type SYNCED after the removal');
      assert.ok(types.CDS?.lastNack === null && types.LDS?.lastNack === null, 'removal caused no NACK');

      // 3. Re-added, it gets its endpoints again.
      cell.writeMesh(paymentsMesh([payments], v2));
      await cell.waitFor('payments-v2 back with its endpoint', async () =>
        (await cell.envoy.clusterHosts()).get('payments-v2.shop:8080')?.includes(`127.0.0.1:${v2.port}`),
      );
      await cell.waitFor('payments-v2.shop to answer again', async () => (await cell.envoy.request('payments-v2.shop', '/')).body === 'payments-v2');
      await cell.waitSynced('every type SYNCED after the re-add');
    },
  };
}

export const scenarios: Scenario[] = [removal('sotw'), removal('delta')];
