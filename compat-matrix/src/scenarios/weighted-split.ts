/** A weighted split follows its weights, and a weight change moves the traffic. */
import type { Scenario } from '../scenario.js';
import { assert, paymentsMesh } from './_common.js';

const N = 200;

export const scenarios: Scenario[] = [
  {
    id: 'weighted-split',
    title: 'weighted split 80/20, then 0/100',
    order: 30,
    async run(cell) {
      const payments = await cell.upstream('payments');
      const v2 = await cell.upstream('payments-v2');
      await cell.start({ mesh: paymentsMesh([payments], v2, { v2: 80, v1: 20 }) });
      const counts = await cell.tally('payments.shop', '/v2/split', N);
      const toV2 = counts.get('payments-v2') ?? 0;
      const toV1 = counts.get('payments') ?? 0;
      cell.note('80/20 split', `${toV2}/${toV1} of ${N}`);
      assert.equal(toV2 + toV1, N, `every request answered by a backend: ${JSON.stringify([...counts])}`);
      // Binomial(200, 0.8): mean 160, sd 5.7; ±30 is over five sd.
      assert.ok(Math.abs(toV2 - 0.8 * N) <= 30, `~80% to payments-v2, got ${toV2} of ${N}`);

      cell.writeMesh(paymentsMesh([payments], v2, { v2: 0, v1: 100 }));
      await cell.waitFor('/v2 traffic to leave payments-v2', async () => {
        const probe = await cell.tally('payments.shop', '/v2/split', 10);
        return !probe.has('payments-v2') && probe;
      });
      const after = await cell.tally('payments.shop', '/v2/split', 50);
      assert.deepEqual([...after], [['payments', 50]], 'after 0/100 every request goes to payments');
      await cell.waitSynced('every type SYNCED after the weight change');
    },
  },
];
