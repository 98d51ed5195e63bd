/**
 * Root rotation with an overlap, on real Envoy sidecars under continuous STRICT mTLS
 * traffic. `meshcp identity rotate-root --overlap-seconds 40` writes a new root into
 * the running server's file store; the server picks it up, publishes a trust bundle
 * with both roots, issues new SVIDs from the new root (a new workload at once, the
 * connected ones inside the overlap) and drops the old root when the overlap ends.
 * A sidecar still on an old-root SVID and one on a new-root SVID talk without a
 * single failed request; afterwards every proxy holds a new-root SVID and the bundle
 * is the new root alone. Neither root key shows up in the server's output or its
 * admin endpoints (e2e/test/secrets-and-identity-status.test.ts covers the rest).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Cleanup,
  type EnvoyProcess,
  freePort,
  MESHCP_BIN,
  mtlsServiceYaml,
  type SecureMeshcp,
  startApp,
  startEnvoy,
  startSecureMeshcp,
  startServiceSidecar,
  tempDir,
  waitFor,
} from '../src/harness.js';
import { ANY_PRIVATE_KEY, findSecrets, keyNeedles } from '../src/secrets.js';

const OVERLAP_SECONDS = 40;
const WEB = 'shop/web';
const PAYMENTS = 'shop/payments';

interface CertificateStatus {
  identity: string;
  signer?: string;
  serialNumber?: string;
  trustBundle?: string;
}

/** What `certificateId` and `trustBundleVersion` compute (control-plane/src/identity/ca.ts), from the store file. */
const certificateId = (pem: string) => createHash('sha256').update(pem).digest('base64url').slice(0, 12);
const bundleVersion = (pems: string[]) => createHash('sha256').update(pems.join('\n')).digest('base64url').slice(0, 16);

describe('root rotation with an overlap (STRICT mTLS, newest Envoy)', () => {
  const cleanup = new Cleanup();
  let meshcp: SecureMeshcp;
  let web: EnvoyProcess;
  let inboundPort: number;
  let appPort: number;

  const certificates = async (): Promise<Map<string, CertificateStatus>> => {
    const { certificates } = (await (await meshcp.admin('/debug/certificates')).json()) as { certificates: CertificateStatus[] };
    return new Map(certificates.map((c) => [c.identity, c]));
  };
  const store = () => JSON.parse(readFileSync(join(meshcp.stateDir, 'ca.json'), 'utf8')) as { signer: { certificatePem: string; privateKeyPem: string } };

  beforeAll(async () => {
    appPort = (await startApp('payments-app', cleanup)).port;
    inboundPort = await freePort();
    const file = join(tempDir('root-rotation', cleanup), 'mesh.yaml');
    writeFileSync(file, mtlsServiceYaml('payments', 'payments', 'STRICT', inboundPort));
    meshcp = await startSecureMeshcp(file, cleanup);
    web = await startEnvoy(
      { xdsPort: meshcp.xdsPort, nodeId: 'web', namespace: 'shop', serviceAccount: 'web', security: await meshcp.identity('shop', 'web') },
      cleanup,
    );
    await waitFor('web to hold an SVID', async () => (await certificates()).get(WEB)?.signer, 30_000);
  });
  afterAll(() => cleanup.run());

  it('old-root and new-root sidecars talk through the overlap with zero failed requests; afterwards all are on the new root', async () => {
    const oldSigner = certificateId(store().signer.certificatePem);
    const oldRootKey = store().signer.privateKeyPem;
    expect((await certificates()).get(WEB)?.signer).toBe(oldSigner);
    const oldBundle = (await certificates()).get(WEB)?.trustBundle;

    const rotatedAt = Date.now();
    const { stdout } = await promisify(execFile)(process.execPath, [
      MESHCP_BIN,
      'identity',
      'rotate-root',
      '--state-dir',
      meshcp.stateDir,
      '--overlap-seconds',
      String(OVERLAP_SECONDS),
    ]);
    const newSigner = certificateId(store().signer.certificatePem);
    expect(newSigner).not.toBe(oldSigner);
    expect(stdout).toContain(newSigner);
    // The running server picks the rotation up and sends web the two-root bundle (web's SVID stays old for now).
    await waitFor('web to get the two-root bundle', async () => (await certificates()).get(WEB)?.trustBundle !== oldBundle, 15_000);
    expect((await certificates()).get(WEB)?.signer).toBe(oldSigner);

    // A workload that arrives now gets a new-root SVID at once.
    await startServiceSidecar(meshcp, { service: 'payments', serviceAccount: 'payments', inboundPort, appPort }, cleanup);
    await waitFor('payments to hold a new-root SVID', async () => (await certificates()).get(PAYMENTS)?.signer === newSigner, 30_000);

    const failures: string[] = [];
    let requests = 0;
    let mixedOk = 0;
    const overlapEnds = rotatedAt + OVERLAP_SECONDS * 1000;
    // Traffic from the moment payments is reachable through the old root's drop and a little after.
    await waitFor('web → payments over mTLS', async () => (await web.request('payments.shop')).body.trim() === 'payments-app', 30_000);
    let state = await certificates();
    while (Date.now() < overlapEnds + 8_000) {
      const mixed = state.get(WEB)?.signer === oldSigner && state.get(PAYMENTS)?.signer === newSigner;
      const batch = await Promise.all(Array.from({ length: 10 }, () => web.request('payments.shop').catch((e: Error) => ({ status: 0, body: e.message }))));
      for (const r of batch) {
        if (r.status !== 200 || r.body.trim() !== 'payments-app') failures.push(`${r.status} ${r.body.slice(0, 80)}`);
        else if (mixed) mixedOk++;
      }
      requests += batch.length;
      state = await certificates();
    }
    console.log(`root rotation: ${requests} requests over ${Date.now() - rotatedAt} ms, ${mixedOk} of them between an old-root and a new-root sidecar`);
    expect(failures).toEqual([]);
    expect(mixedOk).toBeGreaterThan(0);

    // After the overlap: every proxy on the new root, and the bundle is the new root alone.
    const after = await certificates();
    const newBundle = bundleVersion([store().signer.certificatePem]);
    for (const identity of [WEB, PAYMENTS]) {
      expect(after.get(identity)?.signer).toBe(newSigner);
      expect(after.get(identity)?.trustBundle).toBe(newBundle);
    }
    // The sidecar itself holds the new-root certificate (Envoy's /certs, by serial number).
    const certs = JSON.parse(await web.admin('/certs')) as {
      certificates: { cert_chain: { serial_number: string; subject_alt_names?: { uri?: string }[] }[] }[];
    };
    const held = certs.certificates
      .flatMap((c) => c.cert_chain)
      .filter((c) => c.subject_alt_names?.some((san) => san.uri === 'spiffe://cluster.local/ns/shop/sa/web'))
      .map((c) => c.serial_number.toLowerCase().replace(/^0+/, ''));
    expect(held).toContain((after.get(WEB)?.serialNumber ?? '').toLowerCase().replace(/^0+/, ''));

    // Neither root's key anywhere meshcp speaks.
    const outputs: Record<string, string> = { 'server output': meshcp.output() };
    for (const path of ['/metrics', '/debug/proxies', '/debug/certificates', '/debug/errors', '/debug/config_dump?proxy=web'])
      outputs[path] = await (await meshcp.admin(path)).text();
    const needles = [...ANY_PRIVATE_KEY, ...keyNeedles(oldRootKey, 'old root key'), ...keyNeedles(store().signer.privateKeyPem, 'new root key')];
    expect(findSecrets(outputs, needles)).toEqual([]);
  });
});
