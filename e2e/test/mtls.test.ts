/**
 * Mesh mTLS between two real Envoy sidecars (oldest and newest release), identities
 * from meshcp's CA over SDS: the caller presents spiffe://…/ns/shop/sa/web, the
 * service's sidecar requires it (STRICT) and tells the app who called; plaintext to
 * the sidecar fails under STRICT and works under PERMISSIVE; no private key shows
 * up in meshcp's output or its admin API.
 */
import { writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { ENVOY_RELEASES } from '@meshcp/xds-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Cleanup,
  type EnvoyProcess,
  freePort,
  httpGet,
  mtlsServiceYaml,
  type SecureMeshcp,
  startApp,
  startEnvoy,
  startSecureMeshcp,
  startServiceSidecar,
  tempDir,
  waitFor,
} from '../src/harness.js';

const VERSIONS = [ENVOY_RELEASES[0] as string, ENVOY_RELEASES.at(-1) as string];

const mesh = (mode: 'STRICT' | 'PERMISSIVE', inboundPort: number) => mtlsServiceYaml('payments', 'payments', mode, inboundPort);

async function stat(envoy: EnvoyProcess, pattern: RegExp): Promise<number> {
  const text = await envoy.admin('/stats');
  return [...text.matchAll(new RegExp(`^${pattern.source}: (\\d+)$`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0);
}

for (const version of VERSIONS) {
  describe(`mesh mTLS with SDS identities, Envoy ${version}`, () => {
    const cleanup = new Cleanup();
    let meshcp: SecureMeshcp;
    let file: string;
    let inboundPort: number;
    let client: EnvoyProcess;
    let server: EnvoyProcess;
    let seen: IncomingHttpHeaders[] = [];

    beforeAll(async () => {
      const app = await startApp('payments-app', cleanup);
      seen = app.seen;
      inboundPort = await freePort();
      file = join(tempDir('mtls', cleanup), 'mesh.yaml');
      writeFileSync(file, mesh('STRICT', inboundPort));
      meshcp = await startSecureMeshcp(file, cleanup);
      server = await startServiceSidecar(meshcp, { version, service: 'payments', serviceAccount: 'payments', inboundPort, appPort: app.port }, cleanup);
      client = await startEnvoy(
        {
          xdsPort: meshcp.xdsPort,
          version,
          nodeId: 'web-sidecar',
          service: 'web',
          namespace: 'shop',
          serviceAccount: 'web',
          security: await meshcp.identity('shop', 'web'),
        },
        cleanup,
      );
    });
    afterAll(() => cleanup.run());

    it('sidecar to sidecar is mTLS with the expected SPIFFE IDs on both ends (STRICT)', async () => {
      await waitFor(
        'web → payments through both sidecars',
        async () => ((await client.request('payments.shop')).body.trim() === 'payments-app' ? true : undefined),
        30_000,
      );
      const xfcc = String(seen.at(-1)?.['x-forwarded-client-cert'] ?? '');
      expect(xfcc).toContain('URI=spiffe://cluster.local/ns/shop/sa/web');
      expect(await stat(client, /cluster\.payments\.shop[:_]8080\.ssl\.handshake/)).toBeGreaterThan(0);
      expect(await stat(server, /listener\.127\.0\.0\.1_\d+\.ssl\.handshake/)).toBeGreaterThan(0);
      const proxies = ((await (await meshcp.admin('/debug/certificates')).json()) as { certificates: { spiffeId: string; notAfter: string }[] }).certificates;
      expect(proxies.map((c) => c.spiffeId).sort()).toEqual(['spiffe://cluster.local/ns/shop/sa/payments', 'spiffe://cluster.local/ns/shop/sa/web']);
    });

    it('plaintext to a STRICT sidecar fails; PERMISSIVE accepts plaintext and mTLS both', async () => {
      const plain = await httpGet(inboundPort, 'payments.shop', '/').catch((error: Error) => ({ status: 0, body: error.message }));
      expect(plain.status).not.toBe(200);
      writeFileSync(file, mesh('PERMISSIVE', inboundPort));
      await waitFor('plaintext reaches the app under PERMISSIVE', async () => {
        const r = await httpGet(inboundPort, 'payments.shop', '/').catch(() => ({ status: 0, body: '' }));
        return r.status === 200 ? true : undefined;
      });
      const before = await stat(server, /listener\.127\.0\.0\.1_\d+\.ssl\.handshake/);
      await waitFor('mesh traffic still mTLS', async () => ((await client.request('payments.shop')).body.trim() === 'payments-app' ? true : undefined));
      const fresh = await client.request('payments.shop');
      expect(fresh.status).toBe(200);
      expect(String(seen.at(-1)?.['x-forwarded-client-cert'] ?? '')).toContain('URI=spiffe://cluster.local/ns/shop/sa/web');
      expect(await stat(server, /listener\.127\.0\.0\.1_\d+\.ssl\.handshake/)).toBeGreaterThanOrEqual(before);
      writeFileSync(file, mesh('STRICT', inboundPort));
    });

    it('no private key in meshcp output or its admin API', async () => {
      const dump = await (await meshcp.admin('/debug/config_dump?proxy=web-sidecar')).text();
      expect(dump).toContain('SDS');
      expect(dump).toContain('BEGIN CERTIFICATE');
      expect(dump).not.toContain('PRIVATE KEY');
      for (const path of ['/debug/proxies', '/debug/errors', '/debug/certificates', '/metrics'])
        expect(await (await meshcp.admin(path)).text()).not.toContain('PRIVATE KEY');
      expect(meshcp.output()).not.toContain('PRIVATE KEY');
    });
  });
}
