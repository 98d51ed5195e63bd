/** TLS on meshcp's gRPC port with a mesh-CA serving certificate, and who a real grpc-js client is seen as. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamAuthenticator } from '../src/auth/authenticator.js';
import type { AuthError } from '../src/auth/identity.js';
import { MeshCertificateProvider, meshServerCredentials } from '../src/auth/tls.js';
import { TokenReviewer } from '../src/auth/token-review.js';
import { CertificateAuthority } from '../src/identity/ca.js';
import { FileCaStore } from '../src/identity/file-store.js';
import { rawMethod } from '../src/xds/raw-method.js';

const WHOAMI = rawMethod('/meshcp.test.Who/Am', false);
const Client = grpc.makeGenericClientConstructor({ am: WHOAMI }, 'Who');
type WhoClient = grpc.Client & { am(req: Buffer, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: Buffer) => void): void };

describe('mesh TLS and stream authentication', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshcp-tls-'));
  let ca: CertificateAuthority;
  let provider: MeshCertificateProvider;
  let server: grpc.Server;
  let port: number;
  // A stand-in for the Kubernetes API: the real TokenReview path is tested against kube-apiserver in auth.test.ts.
  const kube = {
    request: async <T>(_m: string, _p: string, body?: unknown): Promise<T> => {
      const token = (body as { spec: { token: string } }).spec.token;
      const ok = token === 'good-token';
      return { status: { authenticated: ok, audiences: ['meshcp'], user: { username: 'system:serviceaccount:shop:frontend' } } } as T;
    },
  };

  beforeAll(async () => {
    ca = await CertificateAuthority.open({ trustDomain: 'cluster.local', store: new FileCaStore(join(dir, 'ca.json')) });
    provider = new MeshCertificateProvider(ca, { dns: ['localhost'], ips: ['127.0.0.1'], spiffeId: 'spiffe://cluster.local/ns/meshcp-system/sa/meshcp' });
    await provider.start();
    const authenticator = new StreamAuthenticator({
      allowUnauthenticated: false,
      trustDomain: 'cluster.local',
      trustBundle: () => ca.trustBundle(),
      tokens: new TokenReviewer(kube, { audience: 'meshcp', trustDomain: 'cluster.local' }),
    });
    server = new grpc.Server();
    server.addService({ am: WHOAMI } as grpc.ServiceDefinition, {
      am: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        authenticator.authenticate(call).then(
          (identity) => callback(null, Buffer.from(JSON.stringify(identity))),
          (error: AuthError) => callback({ code: grpc.status.UNAUTHENTICATED, details: `${error.reason}: ${error.message}` }),
        );
      },
    });
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', meshServerCredentials(provider), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
  });

  afterAll(() => {
    provider?.stop();
    server?.forceShutdown();
  });

  async function ask(credentials: grpc.ChannelCredentials, metadata = new grpc.Metadata()): Promise<string> {
    const client = new Client(`127.0.0.1:${port}`, credentials, { 'grpc.ssl_target_name_override': 'localhost' }) as unknown as WhoClient;
    try {
      return await new Promise<string>((resolve) => {
        client.am(Buffer.alloc(0), metadata, (error, reply) => resolve(error ? `error ${grpc.status[error.code]}: ${error.details}` : String(reply)));
      });
    } finally {
      client.close();
    }
  }

  const bundle = () => Buffer.from(ca.trustBundle().join('\n'));

  it('a client certificate from the mesh CA is the identity', async () => {
    const svid = await ca.issue({ trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'frontend' });
    const reply = await ask(grpc.credentials.createSsl(bundle(), Buffer.from(svid.privateKeyPem), Buffer.from(svid.certificateChainPem)));
    expect(JSON.parse(reply)).toEqual({
      method: 'certificate',
      namespace: 'shop',
      serviceAccount: 'frontend',
      spiffeId: 'spiffe://cluster.local/ns/shop/sa/frontend',
    });
  });

  it('a bearer token over TLS is the identity; a bad token and no credentials are refused', async () => {
    const good = new grpc.Metadata();
    good.set('authorization', 'Bearer good-token');
    expect(JSON.parse(await ask(grpc.credentials.createSsl(bundle()), good))).toMatchObject({ method: 'token', namespace: 'shop', serviceAccount: 'frontend' });
    const bad = new grpc.Metadata();
    bad.set('authorization', 'Bearer forged');
    expect(await ask(grpc.credentials.createSsl(bundle()), bad)).toBe('error UNAUTHENTICATED: invalid-token: token not authenticated');
    expect(await ask(grpc.credentials.createSsl(bundle()))).toMatch(/^error UNAUTHENTICATED: missing-credentials/);
  });

  it('a certificate from another CA is refused, and a plaintext client cannot talk to the TLS port', async () => {
    const other = await CertificateAuthority.open({ trustDomain: 'cluster.local', store: new FileCaStore(join(dir, 'other.json')) });
    const forged = await other.issue({ trustDomain: 'cluster.local', namespace: 'kube-system', serviceAccount: 'admin' });
    // TLS itself does not vouch for it (grpc-js shows only verified peers), so it counts as no credentials at all.
    expect(await ask(grpc.credentials.createSsl(bundle(), Buffer.from(forged.privateKeyPem), Buffer.from(forged.certificateChainPem)))).toMatch(
      /^error UNAUTHENTICATED: (untrusted-certificate|missing-credentials)/,
    );
    expect(await ask(grpc.credentials.createInsecure())).toMatch(/^error UNAVAILABLE/);
  });
});
