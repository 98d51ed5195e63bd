/**
 * A client certificate as an identity: its chain must lead to a root in the trust
 * bundle (the TLS layer only asks for the certificate; this decides), it must be
 * within its validity, and its one URI SAN must be a workload SPIFFE ID in our
 * trust domain.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { parseSpiffeId } from '../identity/spiffe.js';
import { AuthError, type StreamIdentity } from './identity.js';

/** The parts of Node's `PeerCertificate` this needs: DER bytes, and the issuer chain as TLS received it. */
export interface PeerCertificateLike {
  raw: Buffer;
  issuerCertificate?: PeerCertificateLike;
}

const MAX_CHAIN = 5;

function chainOf(peer: PeerCertificateLike): x509.X509Certificate[] {
  const chain: x509.X509Certificate[] = [];
  let current: PeerCertificateLike | undefined = peer;
  while (current && chain.length < MAX_CHAIN) {
    const certificate = new x509.X509Certificate(new Uint8Array(current.raw));
    if (chain.some((c) => c.equal(certificate))) break; // a self-issued root points at itself
    chain.push(certificate);
    current = current.issuerCertificate;
  }
  return chain;
}

/** The bundle changes only when roots rotate: parse it once per bundle, not once per stream. */
let lastRoots: { pem: readonly string[]; parsed: x509.X509Certificate[] } | undefined;
function parsedRoots(pem: readonly string[]): x509.X509Certificate[] {
  if (!lastRoots || lastRoots.pem.length !== pem.length || lastRoots.pem.some((p, i) => p !== pem[i])) {
    lastRoots = { pem: [...pem], parsed: pem.map((p) => new x509.X509Certificate(p)) };
  }
  return lastRoots.parsed;
}

export async function identityFromCertificate(
  peer: PeerCertificateLike,
  trustBundlePem: readonly string[],
  trustDomain: string,
  now = new Date(),
): Promise<StreamIdentity> {
  let chain: x509.X509Certificate[];
  try {
    chain = chainOf(peer);
  } catch {
    throw new AuthError('untrusted-certificate', 'client certificate cannot be parsed');
  }
  const roots = parsedRoots(trustBundlePem);
  const leaf = chain[0];
  if (!leaf) throw new AuthError('untrusted-certificate', 'no client certificate');
  if (leaf.notBefore > now || leaf.notAfter < now) throw new AuthError('untrusted-certificate', 'client certificate is not within its validity period');
  // Walk up: each certificate must be signed by the next one, ending at a trusted root.
  let trusted = false;
  for (let i = 0; i < chain.length && !trusted; i++) {
    const certificate = chain[i] as x509.X509Certificate;
    for (const root of roots) {
      if (certificate.issuer === root.subject && (await certificate.verify({ publicKey: root.publicKey, signatureOnly: true }))) trusted = true;
    }
    const parent = chain[i + 1];
    if (!trusted && (!parent || !(await certificate.verify({ publicKey: parent.publicKey, signatureOnly: true })))) break;
  }
  if (!trusted) throw new AuthError('untrusted-certificate', 'client certificate does not chain to the mesh trust bundle');
  const uris =
    leaf
      .getExtension(x509.SubjectAlternativeNameExtension)
      ?.names.items.filter((name) => name.type === 'url')
      .map((name) => name.value) ?? [];
  const identity = uris.length === 1 ? parseSpiffeId(uris[0] as string) : undefined;
  if (!identity || identity.trustDomain !== trustDomain)
    throw new AuthError('not-a-workload-identity', `client certificate has no workload SPIFFE ID in ${trustDomain}`);
  return { method: 'certificate', namespace: identity.namespace, serviceAccount: identity.serviceAccount, spiffeId: uris[0] as string };
}
