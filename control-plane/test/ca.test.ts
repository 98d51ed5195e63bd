/** The built-in CA, checked with OpenSSL (an implementation nobody here wrote). */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority, createRoot } from '../src/identity/ca.js';
import { FileCaStore } from '../src/identity/file-store.js';
import { parseSpiffeId, spiffeId } from '../src/identity/spiffe.js';

const dir = mkdtempSync(join(tmpdir(), 'meshcp-ca-'));
let files = 0;
function file(content: string): string {
  const path = join(dir, `f${files++}.pem`);
  writeFileSync(path, content);
  return path;
}

/** `openssl verify` of a leaf (with its chain) against a bundle; returns OpenSSL's verdict line. */
function verify(bundle: string[], chainPem: string, purpose?: string): { ok: boolean; output: string } {
  const [leaf, ...rest] = chainPem.split(/(?<=-----END CERTIFICATE-----)\n?/).filter((p) => p.trim());
  const args = [
    'verify',
    '-CAfile',
    file(bundle.join('\n')),
    ...(rest.length ? ['-untrusted', file(rest.join('\n'))] : []),
    ...(purpose ? ['-purpose', purpose] : []),
    file(leaf ?? ''),
  ];
  const run = spawnSync('openssl', args, { encoding: 'utf8' });
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}

const shopFrontend = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'frontend' };

describe('certificate authority', () => {
  it('creates and stores a root on first start, and issues SVIDs OpenSSL verifies, with the SPIFFE ID as the URI SAN', async () => {
    const storePath = join(dir, 'ca.json');
    const ca = await CertificateAuthority.open({ trustDomain: 'cluster.local', store: new FileCaStore(storePath) });
    expect(statSync(storePath).mode & 0o777).toBe(0o600);
    const svid = await ca.issue(shopFrontend);
    expect(svid.spiffeId).toBe('spiffe://cluster.local/ns/shop/sa/frontend');
    const verdict = verify(ca.trustBundle(), svid.certificateChainPem, 'sslclient');
    expect(verdict.output).toContain('OK');
    expect(verify(ca.trustBundle(), svid.certificateChainPem, 'sslserver').ok).toBe(true);
    const text = execFileSync('openssl', ['x509', '-noout', '-text', '-in', file(svid.certificateChainPem)], { encoding: 'utf8' });
    expect(text).toContain('URI:spiffe://cluster.local/ns/shop/sa/frontend');
    expect(text).toMatch(/CA:FALSE/);
    // The key matches the certificate.
    const certKey = execFileSync('openssl', ['x509', '-noout', '-pubkey', '-in', file(svid.certificateChainPem)], { encoding: 'utf8' });
    const keyKey = execFileSync('openssl', ['pkey', '-pubout', '-in', file(svid.privateKeyPem)], { encoding: 'utf8' });
    expect(keyKey).toBe(certKey);
    // A second start reads the same root back.
    const again = await CertificateAuthority.open({ trustDomain: 'cluster.local', store: new FileCaStore(storePath) });
    expect(again.trustBundle()).toEqual(ca.trustBundle());
    expect(verify(again.trustBundle(), svid.certificateChainPem).ok).toBe(true);
  });

  it('keeps the private key out of JSON, inspect and string conversion', async () => {
    const ca = await CertificateAuthority.open({ trustDomain: 'cluster.local', store: new FileCaStore(join(dir, 'ca2.json')) });
    const svid = await ca.issue(shopFrontend);
    const keyBody = svid.privateKeyPem.split('\n')[1] as string;
    expect(JSON.stringify({ svid })).not.toContain(keyBody);
    expect(inspect(svid, { depth: 5, showHidden: true })).not.toContain(keyBody);
    expect(`${svid}`).not.toContain(keyBody);
  });

  it('is due for renewal at half its lifetime', async () => {
    let now = Date.parse('2026-12-01T00:00:00Z');
    const ca = await CertificateAuthority.open({
      trustDomain: 'cluster.local',
      store: new FileCaStore(join(dir, 'ca3.json')),
      svidTtlMs: 120_000,
      now: () => now,
    });
    const svid = await ca.issue(shopFrontend);
    expect(svid.notAfter.getTime() - now).toBe(120_000);
    now += 50_000;
    expect(svid.renewalDue(now)).toBe(false);
    now += 10_000; // half of the 120 s it was issued for (notBefore is set back for clock skew; that does not count)
    expect(svid.renewalDue(now)).toBe(true);
  });

  it('rotates its root with an overlap: old and new certificates are both trusted until the overlap ends', async () => {
    let now = Date.now();
    const ca = await CertificateAuthority.open({ trustDomain: 'cluster.local', store: new FileCaStore(join(dir, 'ca4.json')), now: () => now });
    const before = await ca.issue(shopFrontend);
    const versionBefore = ca.trustBundleVersion();
    await ca.rotateRoot(60 * 60 * 1000);
    const after = await ca.issue({ ...shopFrontend, serviceAccount: 'payments' });
    expect(ca.trustBundle()).toHaveLength(2);
    expect(ca.trustBundleVersion()).not.toBe(versionBefore);
    expect(verify(ca.trustBundle(), before.certificateChainPem).ok).toBe(true);
    expect(verify(ca.trustBundle(), after.certificateChainPem).ok).toBe(true);
    // The new root alone does not trust the old certificate: the overlap is what carries it.
    expect(verify([ca.trustBundle()[0] as string], before.certificateChainPem).ok).toBe(false);
    now += 2 * 60 * 60 * 1000;
    expect(ca.trustBundle()).toHaveLength(1);
    expect(verify(ca.trustBundle(), before.certificateChainPem).ok).toBe(false);
  });

  it('a rotation written by another process is picked up; old-root SVIDs are replaced inside the overlap, spread by identity', async () => {
    let now = Date.now();
    const path = join(dir, 'ca5.json');
    const server = await CertificateAuthority.open({ trustDomain: 'cluster.local', store: new FileCaStore(path), now: () => now });
    const old = await server.issue(shopFrontend);
    expect(server.replaceBy(old, 'shop/frontend')).toBeUndefined();
    expect(await server.reload()).toBe(false);
    // `meshcp identity rotate-root` in another process: same file, its own CA object.
    const cli = await CertificateAuthority.open({ trustDomain: 'cluster.local', store: new FileCaStore(path), now: () => now });
    const overlapMs = 60 * 60 * 1000;
    await cli.rotateRoot(overlapMs);
    expect(await server.reload()).toBe(true);
    expect(server.signerId()).toBe(cli.signerId());
    expect(server.trustBundle()).toHaveLength(2);
    const fresh = await server.issue({ ...shopFrontend, serviceAccount: 'payments' });
    expect(fresh.signer).toBe(server.signerId());
    expect(server.replaceBy(fresh, 'shop/payments')).toBeUndefined();
    // The old SVID is due in the overlap's second quarter, never at its end; identities spread out.
    const due = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => (server.replaceBy(old, `shop/sa-${i}`) as number) - now);
    for (const ms of due) {
      expect(ms).toBeGreaterThanOrEqual(overlapMs / 4);
      expect(ms).toBeLessThanOrEqual(overlapMs / 2);
    }
    expect(new Set(due).size).toBeGreaterThan(1);
    now += overlapMs + 1;
    expect(server.trustBundle()).toEqual([server.trustBundle()[0]]);
  });

  it('a corrupt CA store is an error that quotes nothing of the file', async () => {
    const path = join(dir, 'ca6.json');
    await CertificateAuthority.open({ trustDomain: 'cluster.local', store: new FileCaStore(path) });
    const keyLine = (JSON.parse(readFileSync(path, 'utf8')) as { signer: { privateKeyPem: string } }).signer.privateKeyPem.split('\n')[1] as string;
    // A value left unquoted: V8's JSON.parse message would quote the text around it ("Unexpected token 'M', ...").
    writeFileSync(path, `{"signer":{"privateKeyPem":${keyLine}}}`);
    const error = (await new FileCaStore(path).load().catch((e: Error) => e)) as Error;
    expect(error.message).toMatch(/not valid JSON/);
    expect(error.message).not.toContain(keyLine.slice(0, 8));
  });

  it('signs from an intermediate the user provides, chain included', async () => {
    const root = await createRoot('cluster.local');
    // An intermediate signed by that root, made with OpenSSL as cert-manager would hand it over.
    const rootCert = file(root.certificatePem);
    const rootKey = file(root.privateKeyPem);
    const intermediateKey = join(dir, 'int.key');
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', intermediateKey]);
    const pkcs8 = execFileSync('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', intermediateKey], { encoding: 'utf8' });
    const csr = join(dir, 'int.csr');
    execFileSync('openssl', ['req', '-new', '-key', intermediateKey, '-subj', '/O=meshcp/CN=intermediate', '-out', csr]);
    const ext = file('basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
    const intermediate = execFileSync(
      'openssl',
      ['x509', '-req', '-in', csr, '-CA', rootCert, '-CAkey', rootKey, '-CAcreateserial', '-days', '30', '-extfile', ext],
      { encoding: 'utf8' },
    );
    const ca = await CertificateAuthority.open({
      trustDomain: 'cluster.local',
      store: new FileCaStore(join(dir, 'unused.json')),
      signer: { certificatePem: intermediate, privateKeyPem: pkcs8, chainPem: intermediate },
      roots: [root.certificatePem],
    });
    const svid = await ca.issue(shopFrontend);
    expect(verify([root.certificatePem], svid.certificateChainPem).ok).toBe(true);
  });

  it('parses only workload SPIFFE IDs', () => {
    expect(parseSpiffeId(spiffeId(shopFrontend))).toEqual(shopFrontend);
    for (const bad of [
      'spiffe://cluster.local/ns/shop',
      'spiffe://cluster.local/ns/Shop/sa/x',
      'http://cluster.local/ns/a/sa/b',
      'spiffe://cluster.local/ns/a/sa/b/extra',
    ]) {
      expect(parseSpiffeId(bad), bad).toBeUndefined();
    }
  });
});
