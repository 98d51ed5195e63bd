/**
 * Certificate rotation under continuous mTLS traffic between two real Envoy sidecars:
 * SVIDs live 16 s (renewed at half life, so every ~8 s); ≥ 1,000 requests spanning at
 * least two rotations of both sides' certificates, and not one fails.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Cleanup,
  type EnvoyProcess,
  freePort,
  mtlsServiceYaml,
  type SecureMeshcp,
  startApp,
  startEnvoy,
  startSecureMeshcp,
  startServiceSidecar,
  tempDir,
  waitFor,
} from '../src/harness.js';

describe('SVID rotation under traffic (STRICT mTLS, newest Envoy)', () => {
  const cleanup = new Cleanup();
  let meshcp: SecureMeshcp;
  let client: EnvoyProcess;

  beforeAll(async () => {
    const app = await startApp('payments-app', cleanup);
    const inboundPort = await freePort();
    const file = join(tempDir('rotation', cleanup), 'mesh.yaml');
    writeFileSync(file, mtlsServiceYaml('payments', 'payments', 'STRICT', inboundPort));
    meshcp = await startSecureMeshcp(file, cleanup, ['--svid-ttl-seconds', '16']);
    await startServiceSidecar(meshcp, { service: 'payments', serviceAccount: 'payments', inboundPort, appPort: app.port }, cleanup);
    client = await startEnvoy(
      { xdsPort: meshcp.xdsPort, nodeId: 'web', namespace: 'shop', serviceAccount: 'web', security: await meshcp.identity('shop', 'web') },
      cleanup,
    );
    await waitFor('web → payments over mTLS', async () => ((await client.request('payments.shop')).body.trim() === 'payments-app' ? true : undefined), 30_000);
  });
  afterAll(() => cleanup.run());

  it('≥ 1,000 requests across two rotations of both certificates: none fails', async () => {
    const seen = new Map<string, Set<string>>();
    const watchCertificates = async () => {
      const { certificates } = (await (await meshcp.admin('/debug/certificates')).json()) as { certificates: { spiffeId: string; notAfter: string }[] };
      for (const c of certificates) seen.set(c.spiffeId, (seen.get(c.spiffeId) ?? new Set()).add(c.notAfter));
    };
    const failures: string[] = [];
    let requests = 0;
    const started = Date.now();
    const rotatedTwice = () => [...seen.values()].length === 2 && [...seen.values()].every((versions) => versions.size >= 3);
    // Past the first certificates' expiry (16 s), so traffic that still needed them would fail.
    while ((requests < 1000 || !rotatedTwice() || Date.now() - started < 20_000) && Date.now() - started < 90_000) {
      const batch = await Promise.all(Array.from({ length: 10 }, () => client.request('payments.shop').catch((e: Error) => ({ status: 0, body: e.message }))));
      for (const r of batch) if (r.status !== 200 || r.body.trim() !== 'payments-app') failures.push(`${r.status} ${r.body.slice(0, 80)}`);
      requests += batch.length;
      if (requests % 100 === 0) await watchCertificates();
    }
    await watchCertificates();
    console.log(
      `rotation: ${requests} requests in ${Date.now() - started} ms; certificates seen: ${[...seen].map(([id, v]) => `${id} ×${v.size}`).join(', ')}`,
    );
    expect(failures).toEqual([]);
    expect(requests).toBeGreaterThanOrEqual(1000);
    // Three distinct expiries per identity = the first certificate and two renewals.
    expect(rotatedTwice()).toBe(true);
    // The sidecar really holds the newest certificate meshcp issued for it (Envoy's own /certs).
    const newest = [...(seen.get('spiffe://cluster.local/ns/shop/sa/web') ?? [])].sort().at(-1) as string;
    const certs = JSON.parse(await client.admin('/certs')) as {
      certificates: { cert_chain: { expiration_time: string; subject_alt_names?: { uri?: string }[] }[] }[];
    };
    const held = certs.certificates
      .flatMap((c) => c.cert_chain)
      .filter((c) => c.subject_alt_names?.some((san) => san.uri === 'spiffe://cluster.local/ns/shop/sa/web'))
      .map((c) => Date.parse(c.expiration_time));
    // (/certs also lists the sidecar's long-lived xDS client certificate from its bootstrap.)
    expect(held).toContain(Math.floor(Date.parse(newest) / 1000) * 1000);
  });
});
