/**
 * MeshAccessPolicy on a STRICT service: the policy admits ns/shop/sa/compat-client (the
 * cell's Envoy) and nobody else; a third Envoy of the same release with another identity
 * (ns/shop/sa/intruder) is refused with 403 by payments' sidecar, and the app never sees it.
 */
import type { Scenario } from '../scenario.js';
import { assert, expectAnswer, lastXfcc, SPIFFE, startMtlsCell } from './_common.js';

const POLICY = `apiVersion: meshcp.io/v1alpha1
kind: MeshAccessPolicy
metadata: {name: payments-callers, namespace: shop}
spec:
  targetRef: {kind: MeshService, name: payments}
  rules:
    - from: [{serviceAccounts: [shop/compat-client]}]
`;

export const scenarios: Scenario[] = [
  {
    id: 'access-policy',
    title: 'MeshAccessPolicy: the allowed service account gets 200, another gets 403 (RBAC) and never reaches the app',
    order: 87,
    async run(cell) {
      const { app } = await startMtlsCell(cell, 'STRICT', { extra: POLICY });
      await expectAnswer(cell, 'payments.shop', '/orders', 200, 'payments-app');
      assert.ok(lastXfcc(app).includes(`URI=${SPIFFE('compat-client')}`), 'the allowed caller arrives with its SPIFFE ID');

      const requestsBefore = app.requests;
      const intruder = await cell.sidecar({ name: 'intruder', serviceAccount: 'intruder' });
      // The intruder's own config must be in place (its payments cluster with its SVID) before its answer means anything.
      const refused = await cell.waitFor(
        'intruder → payments answered by payments sidecar',
        async () => {
          const r = await intruder.request('payments.shop', '/orders').catch(() => undefined);
          return r && r.status !== 503 ? r : undefined;
        },
        30_000,
        200,
      );
      assert.equal(refused.status, 403, `ns/shop/sa/intruder: expected HTTP 403, got ${refused.status} "${refused.body.slice(0, 80)}"`);
      assert.match(refused.body, /RBAC/, 'the 403 comes from the RBAC filter');
      for (let i = 0; i < 10; i++) {
        const again = await intruder.request('payments.shop', `/orders/${i}`);
        assert.equal(again.status, 403, `intruder request ${i}: expected 403, got ${again.status}`);
      }
      assert.equal(app.requests, requestsBefore, 'no intruder request reached the app');
      await expectAnswer(cell, 'payments.shop', '/orders/again', 200, 'payments-app');
      cell.note('access', `compat-client 200, intruder ${refused.status} "${refused.body.slice(0, 40)}"`);
    },
  },
];
