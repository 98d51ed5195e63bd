/**
 * Finding secrets in text meshcp produced (logs, metrics, admin and CSDS output).
 * Each private key is looked for in every form a leak could take: its PEM base64
 * body whole and line by line (JSON escapes the newlines between lines), and its
 * private scalar as base64url (JWK), base64 and hex. Each bearer token whole and by
 * its signature (the part that makes it a credential). Besides the known secrets,
 * any PKCS#8 key at all: the PEM armour, and the base64 every P-256 PKCS#8 key
 * starts with.
 */
import { createPrivateKey } from 'node:crypto';

/** base64 of the DER prefix shared by every PKCS#8 ECDSA P-256 key (SEQUENCE, version 0, id-ecPublicKey, prime256v1). */
const PKCS8_P256_PREFIX = 'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEH';

export interface Needle {
  what: string;
  text: string;
}

export function keyNeedles(pem: string, what: string): Needle[] {
  const lines = pem.split('\n').filter((l) => l && !l.startsWith('-----'));
  const scalar = Buffer.from(createPrivateKey(pem).export({ format: 'jwk' }).d as string, 'base64url');
  return [
    { what: `${what}: PEM body`, text: lines.join('') },
    ...lines.filter((l) => l.length >= 40).map((text, i) => ({ what: `${what}: PEM line ${i + 1}`, text })),
    { what: `${what}: private scalar (base64url)`, text: scalar.toString('base64url') },
    { what: `${what}: private scalar (base64)`, text: scalar.toString('base64') },
    { what: `${what}: private scalar (hex)`, text: scalar.toString('hex') },
  ];
}

export function tokenNeedles(token: string, what: string): Needle[] {
  const signature = token.slice(token.lastIndexOf('.') + 1);
  return [
    { what: `${what}: whole`, text: token },
    { what: `${what}: signature`, text: signature },
  ];
}

export const ANY_PRIVATE_KEY: Needle[] = [
  { what: 'a PEM private key', text: 'PRIVATE KEY-----' },
  { what: 'a PKCS#8 P-256 key (base64)', text: PKCS8_P256_PREFIX },
];

/** Every needle found, as "source: what". */
export function findSecrets(outputs: Record<string, string>, needles: readonly Needle[]): string[] {
  const found: string[] = [];
  for (const [source, text] of Object.entries(outputs)) for (const needle of needles) if (text.includes(needle.text)) found.push(`${source}: ${needle.what}`);
  return found;
}
