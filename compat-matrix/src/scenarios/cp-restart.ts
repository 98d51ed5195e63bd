/**
 * The control plane restarts under traffic: no request fails (Envoy keeps its
 * config while disconnected, and the new control plane serves nothing partial),
 * Envoy reconnects on its own, and ends up on the same content-hash versions.
 */
import { type Scenario, type TrafficResult, XDS_TYPES } from '../scenario.js';
import { assert, expectNoFailures, paymentsMesh } from './_common.js';

function restart(mode: 'sotw' | 'delta'): Scenario {
  return {
    id: `cp-restart-${mode}`,
    title: `control-plane restart under traffic (${mode === 'sotw' ? 'SotW' : 'Delta'}): no failed request, same versions after resync`,
    order: mode === 'sotw' ? 50 : 51,
    async run(cell) {
      const a = await cell.upstream('payments-a');
      const b = await cell.upstream('payments-b');
      const v2 = await cell.upstream('payments-v2');
      await cell.start({ mesh: paymentsMesh([a, b], v2, { v2: 50, v1: 50 }), delta: mode === 'delta' });
      const before = await cell.types();
      const envoyBefore = await cell.envoy.resourceVersions();
      const servedBefore = await cell.servedVersions();
      const oldStream = (await cell.proxy())?.streamId;
      const traffic = cell.traffic('payments.shop', '/v2/restart');
      let result: TrafficResult;
      try {
        // Traffic flows before, during and after the restart.
        await cell.waitFor('traffic flowing before the restart', () => traffic.progress().ok >= 10);
        await cell.restartPlane();
        const proxy = await cell.waitFor('Envoy to reconnect to the new control plane', () => cell.proxy(), 45_000);
        cell.note('reconnected', `stream ${oldStream} → ${proxy.streamId}`);
        if (mode === 'sotw') {
          // SotW: the new control plane sends every type again; the versions are content hashes, so equal.
          const after = await cell.waitSynced('every type re-sent and ACKed on the new stream', 30_000);
          for (const t of XDS_TYPES) assert.equal(after[t]?.ackedVersion, before[t]?.ackedVersion, `${t} version after the restart equals the one before`);
        } else {
          // Delta: Envoy reconnects with initial_resource_versions; the new control plane's own
          // per-resource versions equal them, so it has nothing to send and nothing is NACKed.
          // (Envoy's config_dump shows no version for delta EDS; those are compared control-plane side.)
          const held = await cell.envoy.resourceVersions();
          const served = await cell.servedVersions();
          for (const t of ['CDS', 'LDS', 'RDS']) assert.deepEqual(held[t], served[t], `${t}: Envoy holds the versions the new control plane serves`);
          const types = await cell.types();
          for (const t of XDS_TYPES) assert.equal(types[t]?.lastNack ?? null, null, `${t}: no NACK after the reconnect`);
          cell.note('delta resync', XDS_TYPES.map((t) => `${t} ${types[t]?.status ?? 'absent'}`).join(', '));
        }
        assert.deepEqual(pick(await cell.servedVersions()), pick(servedBefore), 'the new control plane serves the same content-hash versions as the old one');
        assert.deepEqual(await cell.envoy.resourceVersions(), envoyBefore, 'Envoy holds the same resource versions as before the restart');
        await cell.waitFor('Envoy control_plane.connected_state = 1', async () => (await cell.envoy.stat('control_plane.connected_state')) === 1);
        await cell.waitFor('more traffic after the reconnect', () => traffic.progress().ok >= 40);
      } finally {
        result = await traffic.stop();
      }
      expectNoFailures('traffic across the control-plane restart', result, 20);
      assert.equal(Object.keys(result.bodies).length, 3, `traffic kept reaching all three upstreams: ${JSON.stringify(result.bodies)}`);
      for (const stat of ['cluster_manager.cds.update_rejected', 'listener_manager.lds.update_rejected']) {
        assert.equal((await cell.envoy.stat(stat)) ?? 0, 0, `Envoy ${stat} after the resync`);
      }
    },
  };
}

/** The four xDS types only, for comparing what is served with what Envoy holds. */
function pick(v: Record<string, Record<string, string>>): Record<string, Record<string, string>> {
  return Object.fromEntries(XDS_TYPES.map((t) => [t, v[t] ?? {}]));
}

export const scenarios: Scenario[] = [restart('sotw'), restart('delta')];
