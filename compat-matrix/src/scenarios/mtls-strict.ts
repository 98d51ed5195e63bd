/**
 * Mesh mTLS, STRICT: the cell's Envoy (ns/shop/sa/compat-client) calls payments through
 * payments' own sidecar (a second Envoy of the same release and runtime, SVID
 * ns/shop/sa/payments). Both identities come from the cell's CA over SDS. The call is
 * mTLS on both ends, the app is told the caller's SPIFFE ID (XFCC), and plaintext to the
 * sidecar's inbound port is refused.
 */
import type { Scenario } from '../scenario.js';
import { httpGet } from '../support/net.js';
import { assert, clusterHandshakes, expectAnswer, inboundHandshakes, lastXfcc, SPIFFE, startMtlsCell } from './_common.js';

export const scenarios: Scenario[] = [
  {
    id: 'mtls-strict',
    title: 'mTLS STRICT between two sidecars: SVIDs over SDS, caller SPIFFE ID at the app, plaintext refused',
    order: 85,
    async run(cell) {
      const { app, sidecar, inboundPort } = await startMtlsCell(cell, 'STRICT');
      for (let i = 0; i < 20; i++) await expectAnswer(cell, 'payments.shop', `/strict/${i}`, 200, 'payments-app');
      const xfcc = lastXfcc(app);
      assert.ok(xfcc.includes(`URI=${SPIFFE('compat-client')}`), `the app sees the caller's SPIFFE ID in x-forwarded-client-cert, got ${JSON.stringify(xfcc)}`);
      cell.note('xfcc', xfcc.replace(/Hash=[0-9a-f]+;?/, ''));
      const client = await clusterHandshakes(cell.envoy);
      const server = await inboundHandshakes(sidecar, inboundPort);
      assert.ok(client > 0, `the caller's payments cluster made TLS handshakes (cluster…ssl.handshake = ${client})`);
      assert.ok(server > 0, `payments' inbound listener accepted TLS handshakes (listener…ssl.handshake = ${server})`);
      cell.note('handshakes', `caller ${client}, payments inbound ${server}`);

      const requestsBefore = app.requests;
      const plain = await httpGet(inboundPort, 'payments.shop', '/plaintext').catch((error: Error) => ({ status: 0, body: error.message }));
      assert.notEqual(
        plain.status,
        200,
        `plaintext to the STRICT inbound port ${inboundPort} must be refused, got HTTP ${plain.status} "${plain.body.slice(0, 80)}"`,
      );
      assert.equal(app.requests, requestsBefore, 'the plaintext request never reached the app');
      cell.note('plaintext to inbound', plain.status === 0 ? `refused (${plain.body.slice(0, 60)})` : `HTTP ${plain.status}`);
    },
  },
];
