/**
 * A deliberately rejected resource: a second listener on the outbound listener's
 * address passes meshcp's validation, but Envoy rejects it. The NACK is recorded
 * with Envoy's own text, Envoy keeps the old config, and the rejected version is
 * not re-sent (go-control-plane PR #794) while other changes still flow.
 */
import { LISTENER } from '@meshcp/xds-protos';
import type { Scenario } from '../scenario.js';
import { meshYaml } from '../support/mesh.js';
import { assert, expectAnswer } from './_common.js';

export const scenarios: Scenario[] = [
  {
    id: 'nack-rejected-resource',
    title: 'rejected resource: NACK with Envoy’s text, old config kept, no re-push loop',
    order: 70,
    async run(cell) {
      const first = await cell.upstream('first');
      const second = await cell.upstream('second');
      await cell.start({ mesh: meshYaml([{ name: 'echo', endpoints: [{ port: first.port }] }]) });
      const before = await cell.types();
      const ldsSent = async () => (await cell.plane.metrics.responses.get()).values.filter((v) => v.labels.type === 'LDS').reduce((s, v) => s + v.value, 0);

      cell.plane.cache.setResourceHook((typeUrl, resources) => {
        if (typeUrl !== LISTENER || resources.length === 0) return resources;
        return [...resources, { ...(resources[0] as Record<string, unknown>), name: 'compat-duplicate-listener' }];
      });
      const nacked = await cell.waitFor('LDS NACKED in /debug/proxies', async () => {
        const t = (await cell.types()).LDS;
        return t?.status === 'NACKED' && t;
      });
      const text = nacked.lastNack?.error ?? '';
      cell.note('envoy NACK text', text);
      assert.match(text, /duplicate|address/i, `Envoy's own reason is recorded, got: ${text}`);
      assert.ok(text.includes(`127.0.0.1:${cell.envoy.outboundPort}`), `the text names the listener address, got: ${text}`);
      assert.equal(nacked.ackedVersion, before.LDS?.ackedVersion, 'the last ACKed LDS version is kept');
      assert.equal(await cell.envoy.stat('listener_manager.lds.update_rejected'), 1, 'Envoy rejected exactly one LDS update');
      await expectAnswer(cell, 'echo.shop', '/', 200, 'first');

      // Other changes flow; the rejected LDS version is not pushed again.
      const sent = await ldsSent();
      cell.writeMesh(meshYaml([{ name: 'echo', endpoints: [{ port: first.port }, { port: second.port }] }]));
      await cell.waitFor('Envoy to receive the new endpoint', async () => (await cell.envoy.clusterHosts()).get('echo.shop:8080')?.length === 2);
      await cell.waitFor('EDS SYNCED', async () => (await cell.types()).EDS?.status === 'SYNCED');
      assert.equal(await ldsSent(), sent, 'no LDS response was sent after the NACK (no re-push loop)');
      assert.equal(await cell.envoy.stat('listener_manager.lds.update_rejected'), 1, 'still exactly one rejected LDS update');
      assert.equal((await cell.types()).LDS?.status, 'NACKED', 'LDS stays NACKED until the config changes');

      // Removing the fault is a new version, which Envoy takes.
      cell.plane.cache.setResourceHook(undefined);
      await cell.waitSynced('every type SYNCED once the fault is gone', 20_000, nacked.lastNack?.version);
      const counts = await cell.tally('echo.shop', '/', 20);
      assert.equal((counts.get('first') ?? 0) + (counts.get('second') ?? 0), 20, `traffic after recovery: ${JSON.stringify([...counts])}`);
    },
  },
];
