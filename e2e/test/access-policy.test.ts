/**
 * MeshAccessPolicy on real Envoy sidecars (oldest and newest release): a policy on a
 * STRICT service admits ns/shop/sa/frontend, refuses ns/shop/sa/other with 403, and
 * lets `other` through only where a rule's path and method allow it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENVOY_RELEASES } from '@meshcp/xds-protos';
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

const VERSIONS = [ENVOY_RELEASES[0] as string, ENVOY_RELEASES.at(-1) as string];

for (const version of VERSIONS) {
  describe(`MeshAccessPolicy, Envoy ${version}`, () => {
    const cleanup = new Cleanup();
    let meshcp: SecureMeshcp;
    let frontend: EnvoyProcess;
    let other: EnvoyProcess;

    beforeAll(async () => {
      const app = await startApp('payments-app', cleanup);
      const inboundPort = await freePort();
      const file = join(tempDir('policy', cleanup), 'mesh.yaml');
      writeFileSync(
        file,
        `${mtlsServiceYaml('payments', 'payments', 'STRICT', inboundPort)}---
apiVersion: meshcp.io/v1alpha1
kind: MeshAccessPolicy
metadata: {name: payments-callers, namespace: shop}
spec:
  targetRef: {kind: MeshService, name: payments}
  rules:
    - from: [{serviceAccounts: [shop/frontend]}]
    - from: [{namespaces: [shop]}]
      to: {paths: [/public], methods: [GET]}
`,
      );
      meshcp = await startSecureMeshcp(file, cleanup);
      await startServiceSidecar(meshcp, { version, service: 'payments', serviceAccount: 'payments', inboundPort, appPort: app.port }, cleanup);
      const caller = async (sa: string) =>
        startEnvoy(
          { xdsPort: meshcp.xdsPort, version, nodeId: sa, namespace: 'shop', serviceAccount: sa, security: await meshcp.identity('shop', sa) },
          cleanup,
        );
      frontend = await caller('frontend');
      other = await caller('other');
    });
    afterAll(() => cleanup.run());

    it('admits the allowed service account and refuses another with 403', async () => {
      await waitFor('frontend → payments', async () => ((await frontend.request('payments.shop', '/orders')).status === 200 ? true : undefined), 30_000);
      const refused = await other.request('payments.shop', '/orders');
      expect(refused.status).toBe(403);
      expect(refused.body).toContain('RBAC');
    });

    it('a rule with paths and methods lets other callers of the namespace reach only those', async () => {
      expect((await other.request('payments.shop', '/public')).status).toBe(200);
      expect((await other.request('payments.shop', '/public/x')).status).toBe(200);
      expect((await other.request('payments.shop', '/private')).status).toBe(403);
    });
  });
}
