/** CSDS on an authenticating xDS server: only the configured readers see the fleet; workloads and strangers are refused. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamAuthenticator } from '../src/auth/authenticator.js';
import { MeshCertificateProvider, meshServerCredentials } from '../src/auth/tls.js';
import { SnapshotCache } from '../src/cache/snapshot-cache.js';
import { CertificateAuthority } from '../src/identity/ca.js';
import { FileCaStore } from '../src/identity/file-store.js';
import { Metrics } from '../src/metrics.js';
import { fetchCsds } from '../src/status-csds.js';
import { XdsServer } from '../src/xds/server.js';

const READER = 'spiffe://cluster.local/ns/meshcp-system/sa/operator';

describe('CSDS readers on an authenticating server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshcp-csds-auth-'));
  let ca: CertificateAuthority;
  let provider: MeshCertificateProvider;
  let server: XdsServer;
  let metrics: Metrics;
  let port: number;

  beforeAll(async () => {
    ca = await CertificateAuthority.open({ trustDomain: 'cluster.local', store: new FileCaStore(join(dir, 'ca.json')) });
    provider = new MeshCertificateProvider(ca, { dns: ['localhost'], ips: ['127.0.0.1'], spiffeId: 'spiffe://cluster.local/ns/meshcp-system/sa/meshcp' });
    await provider.start();
    const authenticator = new StreamAuthenticator({ allowUnauthenticated: false, trustDomain: 'cluster.local', trustBundle: () => ca.trustBundle() });
    metrics = new Metrics();
    server = new XdsServer(new SnapshotCache(metrics), metrics, { credentials: meshServerCredentials(provider), authenticator, csdsReaders: [READER] });
    port = await server.start('127.0.0.1:0');
    writeFileSync(join(dir, 'bundle.pem'), ca.trustBundle().join('\n'));
    for (const [name, serviceAccount, namespace] of [
      ['operator', 'operator', 'meshcp-system'],
      ['workload', 'frontend', 'shop'],
    ] as const) {
      const svid = await ca.issue({ trustDomain: 'cluster.local', namespace, serviceAccount });
      writeFileSync(join(dir, `${name}.crt`), svid.certificateChainPem);
      writeFileSync(join(dir, `${name}.key`), svid.privateKeyPem);
    }
  });

  afterAll(async () => {
    provider?.stop();
    await server?.stop();
  });

  const ask = (who?: string) =>
    fetchCsds({
      address: `127.0.0.1:${port}`,
      caFile: join(dir, 'bundle.pem'),
      serverName: 'localhost',
      ...(who ? { certFile: join(dir, `${who}.crt`), keyFile: join(dir, `${who}.key`) } : {}),
    });

  it('answers a reader', async () => {
    expect(await ask('operator')).toEqual([]);
  });

  it('refuses a workload (PERMISSION_DENIED) and a caller without credentials (UNAUTHENTICATED, counted)', async () => {
    await expect(ask('workload')).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    await expect(ask()).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect((await metrics.authFailures.get()).values.find((v) => v.labels.reason === 'missing-credentials')?.value).toBeGreaterThanOrEqual(1);
  });
});
