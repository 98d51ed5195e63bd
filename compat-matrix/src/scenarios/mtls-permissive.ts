/**
 * Mesh mTLS, PERMISSIVE: payments' sidecar accepts plaintext from outside the mesh
 * (the app gets it, with no client certificate), while mesh traffic from the cell's
 * Envoy is still mTLS with the caller's SPIFFE ID at the app.
 */
import type { Scenario } from '../scenario.js';
import { httpGet } from '../support/net.js';
import { assert, expectAnswer, inboundHandshakes, lastXfcc, SPIFFE, startMtlsCell } from './_common.js';

export const scenarios: Scenario[] = [
  {
    id: 'mtls-permissive',
    title: 'mTLS PERMISSIVE: plaintext to the sidecar accepted, mesh traffic still mTLS with the caller SPIFFE ID',
    order: 86,
    async run(cell) {
      const { app, sidecar, inboundPort } = await startMtlsCell(cell, 'PERMISSIVE');
      const plain = await httpGet(inboundPort, 'payments.shop', '/plaintext').catch((error: Error) => ({ status: 0, body: error.message }));
      assert.equal(
        plain.status,
        200,
        `plaintext to the PERMISSIVE inbound port ${inboundPort}: expected HTTP 200, got ${plain.status} "${plain.body.slice(0, 80)}"`,
      );
      assert.equal(plain.body, 'payments-app');
      assert.ok(!lastXfcc(app).includes('URI=spiffe://'), `a plaintext caller has no SPIFFE ID at the app, got ${JSON.stringify(lastXfcc(app))}`);

      const before = await inboundHandshakes(sidecar, inboundPort);
      for (let i = 0; i < 20; i++) await expectAnswer(cell, 'payments.shop', `/permissive/${i}`, 200, 'payments-app');
      const xfcc = lastXfcc(app);
      assert.ok(xfcc.includes(`URI=${SPIFFE('compat-client')}`), `mesh traffic carries the caller's SPIFFE ID, got ${JSON.stringify(xfcc)}`);
      // Keep-alive may reuse the TLS connection the readiness probe opened, so "at least one" is the fact.
      const after = await inboundHandshakes(sidecar, inboundPort);
      assert.ok(after > 0, `payments' inbound listener made TLS handshakes for mesh traffic (${before} → ${after})`);
      cell.note('inbound', `plaintext HTTP ${plain.status}; mesh mTLS handshakes ${after}; xfcc ${xfcc.replace(/Hash=[0-9a-f]+;?/, '')}`);
    },
  },
];
