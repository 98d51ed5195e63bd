/**
 * ServiceAccount-token authentication on a real kube-apiserver with real Envoys
 * (oldest and newest release): `meshcp serve --kubeconfig` keeps its CA in a Secret,
 * reviews each stream's token (TokenReview, audience `meshcp`), and checks the
 * node's namespace against the token's.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestApiServer } from '@meshcp/k8s';
import { ENVOY_RELEASES } from '@meshcp/xds-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup, freePort, MESHCP_BIN, REPO_ROOT, startEnvoy, startProcess, startUpstream, tempDir, type Upstream, waitFor } from '../src/harness.js';

const CRD = join(REPO_ROOT, 'k8s', 'crds', 'meshservices.meshcp.io.yaml');
const VERSIONS = [ENVOY_RELEASES[0] as string, ENVOY_RELEASES.at(-1) as string];

describe('xDS streams authenticated with ServiceAccount tokens (TokenReview), real Envoy', () => {
  const cleanup = new Cleanup();
  let api: TestApiServer;
  let upstream: Upstream;
  let xdsPort: number;
  let adminPort: number;
  let caFile: string;

  const admin = (path: string) => fetch(`http://127.0.0.1:${adminPort}${path}`);
  const failures = async (reason: string) =>
    Number(new RegExp(`meshcp_xds_auth_failures_total\\{reason="${reason}"\\} (\\d+)`).exec(await (await admin('/metrics')).text())?.[1] ?? 0);
  const token = async (audience: string) =>
    (await api.kubectlOk(['-n', 'shop', 'create', 'token', 'frontend', '--audience', audience, '--duration', '10m'])).trim();
  const nodeIds = async () => ((await (await admin('/debug/proxies')).json()) as { proxies: { nodeId: string }[] }).proxies.map((p) => p.nodeId);

  beforeAll(async () => {
    api = await TestApiServer.start();
    cleanup.add(() => api.destroy());
    await api.kubectlOk(['apply', '-f', CRD]);
    await api.kubectlOk(['wait', '--for=condition=Established', 'crd/meshservices.meshcp.io', '--timeout=30s']);
    for (const ns of ['shop', 'payments', 'meshcp-system']) await api.kubectlOk(['create', 'namespace', ns]);
    await api.kubectlOk(['-n', 'shop', 'create', 'serviceaccount', 'frontend']);
    upstream = await startUpstream('payments-1', cleanup);
    await api.kubectlOk(
      ['apply', '-f', '-'],
      `apiVersion: meshcp.io/v1alpha1\nkind: MeshService\nmetadata: {name: payments, namespace: shop}\nspec: {ports: [{name: http, port: 8080}], endpoints: [{address: 127.0.0.1, port: ${upstream.port}}]}\n`,
    );
    xdsPort = await freePort();
    adminPort = await freePort();
    const proc = startProcess(
      process.execPath,
      [
        MESHCP_BIN,
        'serve',
        '--kubeconfig',
        api.kubeconfig,
        '--lease-namespace',
        'meshcp-system',
        '--xds-address',
        `127.0.0.1:${xdsPort}`,
        '--admin-address',
        `127.0.0.1:${adminPort}`,
      ],
      cleanup,
    );
    await waitFor(`meshcp /readyz (output: ${proc.output().slice(-500)})`, async () => (await admin('/readyz')).ok, 30_000);
    // Proxies trust the bundle meshcp published in its CA Secret (an injector mounts the same).
    const state = JSON.parse(
      Buffer.from(await api.kubectlOk(['-n', 'meshcp-system', 'get', 'secret', 'meshcp-ca', '-o', 'jsonpath={.data.ca\\.json}']), 'base64').toString(),
    ) as {
      roots: string[];
    };
    caFile = join(tempDir('bundle', cleanup), 'ca.pem');
    writeFileSync(caFile, state.roots.join('\n'));
  });
  afterAll(() => cleanup.run());

  for (const version of VERSIONS) {
    it(`Envoy ${version} with a token for shop/frontend gets its config and routes`, async () => {
      const envoy = await startEnvoy(
        { xdsPort, version, nodeId: `frontend-${version}`, namespace: 'shop', serviceAccount: 'frontend', security: { caFile, token: await token('meshcp') } },
        cleanup,
      );
      await waitFor(`Envoy ${version} routes payments`, async () => ((await envoy.request('payments.shop')).body === 'payments-1' ? true : undefined));
      expect(await nodeIds()).toContain(`frontend-${version}`);
    });

    it(`Envoy ${version} with a token for shop claiming namespace payments is refused (PERMISSION_DENIED) and gets nothing`, async () => {
      const before = await failures('namespace-mismatch');
      const envoy = await startEnvoy(
        { xdsPort, version, nodeId: `claims-payments-${version}`, namespace: 'payments', security: { caFile, token: await token('meshcp') }, waitLive: false },
        cleanup,
      );
      await waitFor('the refusal is counted', async () => ((await failures('namespace-mismatch')) > before ? true : undefined));
      expect(await nodeIds()).not.toContain(`claims-payments-${version}`);
      expect(await envoy.admin('/config_dump?resource=dynamic_active_clusters')).not.toContain('payments.shop:8080');
    });
  }

  it('Envoy reading a rotating token from a file (projected-token style, Google gRPC) gets its config', async () => {
    const tokenFile = join(tempDir('projected-token', cleanup), 'token');
    writeFileSync(tokenFile, await token('meshcp'));
    const envoy = await startEnvoy({ xdsPort, nodeId: 'token-file', namespace: 'shop', serviceAccount: 'frontend', security: { caFile, tokenFile } }, cleanup);
    await waitFor('routes payments through a token read from a file', async () =>
      (await envoy.request('payments.shop')).body === 'payments-1' ? true : undefined,
    );
    expect(await nodeIds()).toContain('token-file');
  });

  it('a token minted for another audience is refused', async () => {
    const before = await failures('invalid-token');
    await startEnvoy(
      { xdsPort, nodeId: 'wrong-audience', namespace: 'shop', security: { caFile, token: await token('kubernetes') }, waitLive: false },
      cleanup,
    );
    await waitFor('the refusal is counted', async () => ((await failures('invalid-token')) > before ? true : undefined));
    expect(await nodeIds()).not.toContain('wrong-audience');
  });
});
