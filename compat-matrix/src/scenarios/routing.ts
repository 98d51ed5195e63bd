/** HTTP routing by Host (every spelling) and by path prefix (whole segments). */
import type { Scenario } from '../scenario.js';
import { expectAnswer, HOSTS, paymentsMesh } from './_common.js';

export const scenarios: Scenario[] = [
  {
    id: 'routing-host-path',
    title: 'HTTP routing by host and path',
    order: 20,
    async run(cell) {
      const payments = await cell.upstream('payments');
      const v2 = await cell.upstream('payments-v2');
      await cell.start({ mesh: paymentsMesh([payments], v2, { v2: 100, v1: 0 }) });
      for (const host of HOSTS('payments')) await expectAnswer(cell, host, '/', 200, 'payments');
      for (const host of HOSTS('payments-v2')) await expectAnswer(cell, host, '/', 200, 'payments-v2');
      await expectAnswer(cell, 'payments.shop', '/v2', 200, 'payments-v2');
      await expectAnswer(cell, 'payments.shop', '/v2/orders?id=1', 200, 'payments-v2');
      // Gateway API PathPrefix matches whole segments: /v2x is not under /v2.
      await expectAnswer(cell, 'payments.shop', '/v2x', 200, 'payments');
      await expectAnswer(cell, 'payments.other', '/', 404);
      await expectAnswer(cell, 'unknown.shop', '/', 404);
    },
  },
];
