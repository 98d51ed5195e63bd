/** Stream authentication: client certificates from the mesh CA, and ServiceAccount tokens checked by a real kube-apiserver. */
import 'reflect-metadata';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestApiServer } from '@meshcp/k8s';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminAccess } from '../src/auth/admin-access.js';
import { AuthError, checkNodeClaims } from '../src/auth/identity.js';
import { identityFromCertificate } from '../src/auth/peer-certificate.js';
import { TokenReviewer } from '../src/auth/token-review.js';
import { CertificateAuthority } from '../src/identity/ca.js';
import { FileCaStore } from '../src/identity/file-store.js';

const dir = mkdtempSync(join(tmpdir(), 'meshcp-auth-'));
const der = (pem: string) => Buffer.from(x509.PemConverter.decode(pem)[0] as ArrayBuffer);

async function reason(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'accepted';
  } catch (error) {
    if (error instanceof AuthError) return error.reason;
    throw error;
  }
}

describe('client certificate identity', () => {
  it('accepts an SVID of the mesh CA and reads namespace and service account from its SPIFFE ID', async () => {
    const ca = await CertificateAuthority.open({ trustDomain: 'cluster.local', store: new FileCaStore(join(dir, 'a.json')) });
    const svid = await ca.issue({ trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'frontend' });
    const identity = await identityFromCertificate({ raw: der(svid.certificateChainPem) }, ca.trustBundle(), 'cluster.local');
    expect(identity).toEqual({ method: 'certificate', namespace: 'shop', serviceAccount: 'frontend', spiffeId: 'spiffe://cluster.local/ns/shop/sa/frontend' });
  });

  it('refuses a certificate from another CA, an expired one, and one from another trust domain', async () => {
    const ours = await CertificateAuthority.open({ trustDomain: 'cluster.local', store: new FileCaStore(join(dir, 'b.json')) });
    const theirs = await CertificateAuthority.open({ trustDomain: 'cluster.local', store: new FileCaStore(join(dir, 'c.json')) });
    const forged = await theirs.issue({ trustDomain: 'cluster.local', namespace: 'kube-system', serviceAccount: 'admin' });
    expect(await reason(identityFromCertificate({ raw: der(forged.certificateChainPem) }, ours.trustBundle(), 'cluster.local'))).toBe('untrusted-certificate');
    const past = Date.now() - 3 * 24 * 3600 * 1000;
    const old = await CertificateAuthority.open({ trustDomain: 'cluster.local', store: new FileCaStore(join(dir, 'b.json')), now: () => past });
    const expired = await old.issue({ trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'frontend' });
    expect(await reason(identityFromCertificate({ raw: der(expired.certificateChainPem) }, ours.trustBundle(), 'cluster.local'))).toBe('untrusted-certificate');
    const other = await CertificateAuthority.open({ trustDomain: 'other.example', store: new FileCaStore(join(dir, 'd.json')) });
    const foreign = await other.issue({ trustDomain: 'other.example', namespace: 'shop', serviceAccount: 'frontend' });
    expect(await reason(identityFromCertificate({ raw: der(foreign.certificateChainPem) }, other.trustBundle(), 'cluster.local'))).toBe(
      'not-a-workload-identity',
    );
    expect(await reason(identityFromCertificate({ raw: Buffer.from('not a certificate') }, ours.trustBundle(), 'cluster.local'))).toBe('untrusted-certificate');
  });
});

describe('node claims against the authenticated identity', () => {
  const identity = { method: 'token' as const, namespace: 'shop', serviceAccount: 'frontend' };
  it('lets a node claim its own namespace and service account, or none', () => {
    expect(() => checkNodeClaims(identity, { id: 'a', metadata: { 'meshcp.namespace': 'shop', 'meshcp.service_account': 'frontend' } })).not.toThrow();
    expect(() => checkNodeClaims(identity, { id: 'a' })).not.toThrow();
  });
  it('refuses a node claiming another namespace or service account', () => {
    expect(() => checkNodeClaims(identity, { id: 'a', metadata: { 'meshcp.namespace': 'payments' } })).toThrow(
      /claims namespace "payments" but authenticated as shop\/frontend/,
    );
    expect(() => checkNodeClaims(identity, { id: 'a', metadata: { NAMESPACE: 'payments' } })).toThrow(AuthError);
    expect(() => checkNodeClaims(identity, { id: 'a', metadata: { 'meshcp.namespace': 'shop', 'meshcp.service_account': 'admin' } })).toThrow(
      /service account/,
    );
    // A node id in Istio's form names its namespace too; a dotted host name (`web.payments`) is not read.
    const istio = 'sidecar~10.0.0.5~web-7d9f.payments~payments.svc.cluster.local';
    expect(() => checkNodeClaims(identity, { id: istio, metadata: { 'meshcp.namespace': 'shop' } })).toThrow(
      /names namespace "payments" but the stream authenticated as shop\/frontend/,
    );
    expect(() => checkNodeClaims(identity, { id: 'sidecar~10.0.0.5~web-7d9f.shop~shop.svc.cluster.local' })).not.toThrow();
    expect(() => checkNodeClaims(identity, { id: 'web.payments' })).not.toThrow();
  });
});

describe('ServiceAccount tokens with TokenReview against a real kube-apiserver', () => {
  let api: TestApiServer;
  beforeAll(async () => {
    api = await TestApiServer.start();
    await api.kubectlOk(['create', 'namespace', 'shop']);
    await api.kubectlOk(['-n', 'shop', 'create', 'serviceaccount', 'frontend']);
  });
  afterAll(async () => {
    await api?.destroy();
  });

  it('accepts a token for the meshcp audience and names its workload; refuses other audiences and garbage; caches verdicts', async () => {
    let reviews = 0;
    const client = api.client();
    const counting = {
      request: <T>(method: string, path: string, body?: unknown) => {
        reviews++;
        return client.request<T>(method, path, body);
      },
    };
    const reviewer = new TokenReviewer(counting, { audience: 'meshcp', trustDomain: 'cluster.local' });
    const token = (await api.kubectlOk(['-n', 'shop', 'create', 'token', 'frontend', '--audience', 'meshcp', '--duration', '10m'])).trim();
    expect(await reviewer.review(token)).toEqual({
      method: 'token',
      namespace: 'shop',
      serviceAccount: 'frontend',
      spiffeId: 'spiffe://cluster.local/ns/shop/sa/frontend',
    });
    await reviewer.review(token);
    expect(reviews).toBe(1);
    const otherAudience = (await api.kubectlOk(['-n', 'shop', 'create', 'token', 'frontend', '--audience', 'somebody-else', '--duration', '10m'])).trim();
    expect(await reason(reviewer.review(otherAudience))).toBe('invalid-token');
    expect(await reason(reviewer.review('garbage'))).toBe('invalid-token');
    expect(await reason(reviewer.review('x'.repeat(100_000)))).toBe('invalid-token');
  });
  it('admin /debug off loopback: needs a token whose user RBAC allows get on the path (TokenReview + SubjectAccessReview)', async () => {
    await api.kubectlOk(['-n', 'shop', 'create', 'serviceaccount', 'prometheus']);
    await api.kubectlOk(['create', 'clusterrole', 'meshcp-debug-reader', '--verb=get', '--non-resource-url=/debug/*']);
    await api.kubectlOk(['create', 'clusterrolebinding', 'meshcp-debug-reader', '--clusterrole=meshcp-debug-reader', '--serviceaccount=shop:prometheus']);
    const access = new AdminAccess(api.client());
    const reader = (await api.kubectlOk(['-n', 'shop', 'create', 'token', 'prometheus', '--duration', '10m'])).trim();
    const stranger = (await api.kubectlOk(['-n', 'shop', 'create', 'token', 'frontend', '--duration', '10m'])).trim();
    const from = (authorization?: string, path = '/debug/proxies', remoteAddress = '10.1.2.3') =>
      access.check({ method: 'GET', path, remoteAddress, ...(authorization ? { authorization } : {}) });
    expect(await from(`Bearer ${reader}`)).toEqual({ allowed: true });
    expect(await from(`Bearer ${stranger}`)).toMatchObject({ allowed: false, status: 403 });
    expect(await from('Bearer not-a-token')).toMatchObject({ allowed: false, status: 401 });
    expect(await from()).toMatchObject({ allowed: false, status: 401 });
    expect(await from(undefined, '/metrics')).toEqual({ allowed: true });
    expect(await from(undefined, '/debug/proxies', '127.0.0.1')).toEqual({ allowed: true });
    expect(await access.check({ method: 'POST', path: '/debug/proxies', remoteAddress: '127.0.0.1' })).toMatchObject({ allowed: false, status: 405 });
  });
});

describe('TokenReview failures', () => {
  it('does not cache an unreachable API server as a verdict', async () => {
    let calls = 0;
    const down = {
      request: async <T>(): Promise<T> => {
        calls++;
        throw new Error('connect ECONNREFUSED');
      },
    };
    const reviewer = new TokenReviewer(down, { audience: 'meshcp', trustDomain: 'cluster.local' });
    expect(await reason(reviewer.review('some-token'))).toBe('token-review-unavailable');
    expect(await reason(reviewer.review('some-token'))).toBe('token-review-unavailable');
    expect(calls).toBe(2);
  });
});
