/**
 * The injection webhook's CA (k8s/src/injector/ca.ts) writes X.509 by hand:
 * these tests hold its output to what real verifiers accept — node's X509
 * parser, `openssl verify` with the TLS server purpose, and a TLS handshake
 * that checks the chain and the host name.
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../k8s/src/injector/ca.js';

const work = mkdtempSync(join(tmpdir(), 'meshcp-ca-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the injector CA', () => {
  const ca = CertificateAuthority.create('meshcp-test-ca');
  const serving = ca.issueServing(['meshcp-injector.meshcp.svc', 'meshcp-injector.meshcp.svc.cluster.local']);

  it('makes a CA certificate and a serving certificate node parses and verifies', () => {
    const caCert = new X509Certificate(ca.certPem);
    const leaf = new X509Certificate(serving.certPem);
    expect(caCert.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(caCert.verify(caCert.publicKey)).toBe(true);
    expect(leaf.checkIssued(caCert)).toBe(true);
    expect(leaf.verify(caCert.publicKey)).toBe(true);
    expect(leaf.checkHost('meshcp-injector.meshcp.svc')).toBe('meshcp-injector.meshcp.svc');
    expect(leaf.checkHost('other.meshcp.svc')).toBeUndefined();
    expect(leaf.subjectAltName).toBe('DNS:meshcp-injector.meshcp.svc, DNS:meshcp-injector.meshcp.svc.cluster.local');
    expect(new Date(leaf.validTo).getTime()).toBeGreaterThan(Date.now() + 300 * 86_400_000);
  });

  it('passes `openssl verify -purpose sslserver`', () => {
    writeFileSync(join(work, 'ca.crt'), ca.certPem);
    writeFileSync(join(work, 'leaf.crt'), serving.certPem);
    const result = spawnSync('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', join(work, 'ca.crt'), join(work, 'leaf.crt')], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe(`${join(work, 'leaf.crt')}: OK`);
  });

  it('serves TLS that a client trusting only the CA accepts for the right name and refuses for another', async () => {
    const server = createServer({ key: serving.keyPem, cert: serving.certPem }, (_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const get = (servername: string, trusted = ca.certPem): Promise<string> =>
      new Promise((resolve) => {
        const req = request({ host: '127.0.0.1', port, servername, ca: trusted, path: '/' }, (res) => {
          res.setEncoding('utf8');
          let body = '';
          res.on('data', (chunk) => {
            body += chunk;
          });
          res.on('end', () => resolve(body));
        });
        req.on('error', (error: NodeJS.ErrnoException) => resolve(`error: ${error.code}`));
        req.end();
      });
    try {
      expect(await get('meshcp-injector.meshcp.svc')).toBe('ok');
      expect(await get('elsewhere.meshcp.svc')).toBe('error: ERR_TLS_CERT_ALTNAME_INVALID');
      // A client trusting another CA (same common name even) refuses it.
      expect(await get('meshcp-injector.meshcp.svc', CertificateAuthority.create('meshcp-test-ca').certPem)).toBe('error: CERT_SIGNATURE_FAILURE');
    } finally {
      server.close();
    }
  });

  it('loads back from its PEM key and certificate, and refuses a key that is not the CA’s', () => {
    const loaded = CertificateAuthority.load(ca.keyPem, ca.certPem);
    const leaf = new X509Certificate(loaded.issueServing(['x.y.svc']).certPem);
    expect(leaf.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(() => CertificateAuthority.load(CertificateAuthority.create().keyPem, ca.certPem)).toThrow(/does not belong/);
    expect(() => CertificateAuthority.load(serving.keyPem, serving.certPem)).toThrow(/not a CA/);
  });
});
