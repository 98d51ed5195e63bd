/**
 * Workload certificates rotate under traffic: SVIDs live 16 s (renewed at 8 s), both
 * sidecars get their new certificates over SDS while the cell's Envoy keeps sending
 * mTLS requests to payments; across two rotations of both identities no request fails,
 * and the caller ends up holding the newest certificate the control plane issued it.
 */
import type { Scenario, TrafficResult } from '../scenario.js';
import { fetchText } from '../support/net.js';
import { assert, expectNoFailures, SPIFFE, startMtlsCell } from './_common.js';

const SVID_TTL_MS = 16_000;

export const scenarios: Scenario[] = [
  {
    id: 'cert-rotation-under-traffic',
    title: `SVID rotation under mTLS traffic (${SVID_TTL_MS / 1000} s certificates, two rotations of both sidecars): no failed request`,
    order: 88,
    timeoutMs: 180_000,
    async run(cell) {
      await startMtlsCell(cell, 'STRICT', { svidTtlMs: SVID_TTL_MS });
      // spiffe id → distinct notAfter seen in the control plane's /debug/certificates.
      const seen = new Map<string, Set<string>>();
      const watch = async () => {
        const { certificates } = JSON.parse(await fetchText(`http://127.0.0.1:${cell.plane.adminPort}/debug/certificates`)) as {
          certificates: { spiffeId: string; notAfter: string }[];
        };
        for (const c of certificates) seen.set(c.spiffeId, (seen.get(c.spiffeId) ?? new Set()).add(c.notAfter));
      };
      const ids = [SPIFFE('compat-client'), SPIFFE('payments')];
      // Three distinct expiries per identity = the first certificate and two renewals.
      const rotatedTwice = () => ids.every((id) => (seen.get(id)?.size ?? 0) >= 3);
      await watch();
      const started = Date.now();
      const traffic = cell.traffic('payments.shop', '/rotation');
      let result: TrafficResult;
      try {
        // Past the first certificates' expiry, so traffic that still needed them would fail.
        await cell.waitFor(
          'two rotations of both SVIDs and traffic past the first certificates expiry',
          async () => {
            await watch();
            return rotatedTwice() && Date.now() - started > SVID_TTL_MS + 2000;
          },
          120_000,
          500,
        );
      } finally {
        result = await traffic.stop();
      }
      cell.note(
        'rotation',
        `${result.sent} requests in ${Date.now() - started} ms; ${ids.map((id) => `${id.replace(/.*\/sa\//, 'sa/')} ×${seen.get(id)?.size}`).join(', ')}`,
      );
      expectNoFailures('mTLS traffic across two certificate rotations', result, 200);
      assert.deepEqual(Object.keys(result.bodies), ['payments-app'], 'every request reached the app');
      // The caller really holds the newest certificate issued for it (Envoy's own /certs; it also lists the bootstrap's xDS client certificate).
      const newest = [...(seen.get(SPIFFE('compat-client')) ?? [])].sort().at(-1) as string;
      const certs = JSON.parse(await cell.envoy.admin('/certs')) as {
        certificates: { cert_chain: { expiration_time: string; subject_alt_names?: { uri?: string }[] }[] }[];
      };
      const held = certs.certificates
        .flatMap((c) => c.cert_chain)
        .filter((c) => c.subject_alt_names?.some((san) => san.uri === SPIFFE('compat-client')))
        .map((c) => Date.parse(c.expiration_time));
      assert.ok(
        held.includes(Math.floor(Date.parse(newest) / 1000) * 1000),
        `Envoy holds the newest SVID (notAfter ${newest}); it holds ${held.map((t) => new Date(t).toISOString()).join(', ')}`,
      );
    },
  },
];
