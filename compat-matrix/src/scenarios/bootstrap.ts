/** Bootstrap in SotW and in Delta mode: Envoy connects, ACKs every type, and routes. */
import { type Scenario, XDS_TYPES } from '../scenario.js';
import { assert, expectAnswer, paymentsMesh } from './_common.js';

function bootstrap(mode: 'sotw' | 'delta'): Scenario {
  return {
    id: `bootstrap-${mode}`,
    title: `bootstrap over ${mode === 'sotw' ? 'state-of-the-world' : 'Delta'} ADS, every type ACKed`,
    order: mode === 'sotw' ? 10 : 11,
    async run(cell) {
      const payments = await cell.upstream('payments');
      await cell.start({ mesh: paymentsMesh([payments], undefined), delta: mode === 'delta' });
      const proxy = await cell.proxy();
      assert.ok(proxy, 'the proxy is listed in /debug/proxies');
      assert.equal(proxy.mode, mode, `the control plane sees a ${mode} stream`);
      if (cell.version) assert.equal(proxy.version, cell.version, `the control plane reads Envoy's version from the node`);
      cell.note('profile', proxy.profile);
      const types = await cell.types();
      for (const t of XDS_TYPES) {
        const view = types[t];
        assert.ok(view?.ackedVersion && view.ackedVersion === view.sentVersion, `${t} acked ${view?.ackedVersion} = sent ${view?.sentVersion}`);
        assert.equal(view.lastNack, null, `${t} has no NACK`);
      }
      // Envoy's side of the same fact: connected, nothing rejected, the cluster warm.
      assert.equal(await cell.envoy.stat('control_plane.connected_state'), 1, 'Envoy control_plane.connected_state');
      for (const stat of ['cluster_manager.cds.update_rejected', 'listener_manager.lds.update_rejected']) {
        assert.equal((await cell.envoy.stat(stat)) ?? 0, 0, `Envoy ${stat}`);
      }
      const hosts = await cell.envoy.clusterHosts();
      assert.deepEqual(hosts.get('payments.shop:8080'), [`127.0.0.1:${payments.port}`], 'Envoy /clusters lists the endpoint');
      await expectAnswer(cell, 'payments.shop', '/', 200, 'payments');
    },
  };
}

export const scenarios: Scenario[] = [bootstrap('sotw'), bootstrap('delta')];
