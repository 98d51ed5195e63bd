/**
 * Authenticated xDS with real Envoys (the oldest and newest supported release):
 * `meshcp serve` is TLS by default with its own mesh CA; a sidecar with an SVID of
 * its workload gets its config and routes; one whose node claims another namespace
 * is refused with PERMISSION_DENIED and gets nothing; plaintext clients and
 * certificates from another CA get nothing either.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENVOY_RELEASES } from '@meshcp/xds-protos';
import { CertificateAuthority, FileCaStore } from 'meshcp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup, meshYaml, type SecureMeshcp, startEnvoy, startSecureMeshcp, startUpstream, tempDir, type Upstream, waitFor } from '../src/harness.js';

const VERSIONS = [ENVOY_RELEASES[0] as string, ENVOY_RELEASES.at(-1) as string];

interface ProxyJson {
  nodeId: string;
  identity: string;
  types: Record<string, { short: string; status: string }>;
}

describe('authenticated xDS with real Envoy', () => {
  const cleanup = new Cleanup();
  let meshcp: SecureMeshcp;
  let upstream: Upstream;

  const proxies = async () => ((await (await meshcp.admin('/debug/proxies')).json()) as { proxies: ProxyJson[] }).proxies;
  const metric = async (reason: string) => {
    const text = await (await meshcp.admin('/metrics')).text();
    return Number(new RegExp(`meshcp_xds_auth_failures_total\\{reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  };

  beforeAll(async () => {
    upstream = await startUpstream('payments-1', cleanup);
    const file = join(tempDir('security', cleanup), 'mesh.yaml');
    writeFileSync(file, meshYaml([{ name: 'payments', endpoints: [{ port: upstream.port }] }]));
    meshcp = await startSecureMeshcp(file, cleanup);
  });
  afterAll(() => cleanup.run());

  for (const version of VERSIONS) {
    it(`Envoy ${version} with an SVID of its workload gets its config over TLS and routes`, async () => {
      const envoy = await startEnvoy(
        {
          xdsPort: meshcp.xdsPort,
          version,
          nodeId: `web-${version}`,
          namespace: 'shop',
          serviceAccount: 'web',
          security: await meshcp.identity('shop', 'web'),
        },
        cleanup,
      );
      await waitFor(`Envoy ${version} routes to payments`, async () => ((await envoy.request('payments')).body === 'payments-1' ? true : undefined));
      const proxy = (await proxies()).find((p) => p.nodeId === `web-${version}`);
      expect(proxy?.identity).toBe('spiffe://cluster.local/ns/shop/sa/web');
      expect(Object.values(proxy?.types ?? {}).map((t) => t.status)).toEqual(['SYNCED', 'SYNCED', 'SYNCED', 'SYNCED']);
    });

    it(`Envoy ${version} whose node claims another namespace than its SVID is refused and gets nothing`, async () => {
      const before = await metric('namespace-mismatch');
      const envoy = await startEnvoy(
        {
          xdsPort: meshcp.xdsPort,
          version,
          nodeId: `impostor-${version}`,
          namespace: 'payments',
          serviceAccount: 'web',
          security: await meshcp.identity('shop', 'web'),
          waitLive: false,
        },
        cleanup,
      );
      await waitFor('the refusal is counted', async () => ((await metric('namespace-mismatch')) > before ? true : undefined));
      expect((await proxies()).some((p) => p.nodeId === `impostor-${version}`)).toBe(false);
      expect((await envoy.admin('/ready')).trim()).not.toBe('LIVE');
      expect(await envoy.admin('/config_dump?resource=dynamic_active_clusters')).not.toContain('payments.shop:8080');
    });
  }

  it('a plaintext Envoy and one with a certificate from another CA get nothing', async () => {
    const plain = await startEnvoy({ xdsPort: meshcp.xdsPort, nodeId: 'plaintext', namespace: 'shop', waitLive: false }, cleanup);
    const otherDir = mkdtempSync(join(tmpdir(), 'meshcp-other-ca-'));
    const other = await CertificateAuthority.open({ trustDomain: 'cluster.local', store: new FileCaStore(join(otherDir, 'ca.json')) });
    const forged = await other.issue({ trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' });
    writeFileSync(join(otherDir, 'cert.pem'), forged.certificateChainPem);
    writeFileSync(join(otherDir, 'key.pem'), forged.privateKeyPem, { mode: 0o600 });
    const ours = await meshcp.identity('shop', 'web');
    const stranger = await startEnvoy(
      {
        xdsPort: meshcp.xdsPort,
        nodeId: 'stranger',
        namespace: 'shop',
        // It trusts our server, but presents a certificate our CA never issued.
        security: { caFile: ours.caFile, certFile: join(otherDir, 'cert.pem'), keyFile: join(otherDir, 'key.pem') },
        waitLive: false,
      },
      cleanup,
    );
    // Give both time to try (Envoy retries its xDS stream with backoff), then check they got nothing.
    await waitFor('the stranger was refused', async () =>
      (await metric('missing-credentials')) + (await metric('untrusted-certificate')) > 0 ? true : undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const names = (await proxies()).map((p) => p.nodeId);
    expect(names).not.toContain('plaintext');
    expect(names).not.toContain('stranger');
    for (const envoy of [plain, stranger]) expect(await envoy.admin('/config_dump?resource=dynamic_active_clusters')).not.toContain('payments.shop:8080');
  });
});
