/**
 * A small certificate authority for the injection webhook's serving
 * certificate: a self-signed ECDSA P-256 CA and leaf certificates it signs,
 * written as DER by hand (node:crypto signs and parses X.509 but cannot make
 * one; a dependency for a hundred lines of ASN.1 is not worth it). The API
 * server trusts the CA through the webhook configuration's `caBundle`, which
 * meshcp patches itself.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, sign, X509Certificate } from 'node:crypto';

// --- DER --------------------------------------------------------------------
function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content]);
}
const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const explicit = (n: number, content: Buffer): Buffer => tlv(0xa0 | n, content);
const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
const bool = (b: boolean): Buffer => tlv(0x01, Buffer.from([b ? 0xff : 0]));
const octets = (b: Buffer): Buffer => tlv(0x04, b);

function integer(bytes: Buffer): Buffer {
  let b = bytes;
  while (b.length > 1 && b[0] === 0 && ((b[1] ?? 0) & 0x80) === 0) b = b.subarray(1);
  if (((b[0] ?? 0) & 0x80) !== 0) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [(parts[0] ?? 0) * 40 + (parts[1] ?? 0)];
  for (const part of parts.slice(2)) {
    const chunk: number[] = [part & 0x7f];
    for (let v = Math.floor(part / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** A BIT STRING of whole bytes, trailing zero bits declared unused (DER). */
function bits(bytes: number[]): Buffer {
  const last = bytes[bytes.length - 1] ?? 0;
  let unused = 0;
  while (unused < 7 && last !== 0 && (last & (1 << unused)) === 0) unused++;
  return tlv(0x03, Buffer.from([unused, ...bytes]));
}

function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  const year = date.getUTCFullYear();
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
  return year < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
const name = (commonName: string): Buffer => seq(set(seq(oid('2.5.4.3'), utf8(commonName))));
const extension = (id: string, critical: boolean, value: Buffer): Buffer => seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));

// Key usage bits (RFC 5280 §4.2.1.3), most significant bit first.
const DIGITAL_SIGNATURE = 0x80;
const KEY_ENCIPHERMENT = 0x20;
const KEY_CERT_SIGN = 0x04;
const CRL_SIGN = 0x02;

// --- certificates -------------------------------------------------------------
export interface KeyAndCert {
  /** PKCS#8 PEM. */
  keyPem: string;
  certPem: string;
}

interface CertificateRequest {
  commonName: string;
  subjectKey: KeyObject;
  issuer: { commonName: string; key: KeyObject };
  validDays: number;
  isCa: boolean;
  dnsNames?: string[];
}

function pem(label: string, der: Buffer): string {
  const body = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${body}${body.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

function certificate(req: CertificateRequest): string {
  const now = Date.now();
  // Backdated a little: clocks of the API server and meshcp may differ.
  const notBefore = new Date(now - 5 * 60_000);
  const notAfter = new Date(now + req.validDays * 86_400_000);
  const spki = createPublicKey(req.subjectKey).export({ type: 'spki', format: 'der' });
  const extensions = [
    extension('2.5.29.19', true, seq(...(req.isCa ? [bool(true)] : []))),
    extension('2.5.29.15', true, bits([req.isCa ? DIGITAL_SIGNATURE | KEY_CERT_SIGN | CRL_SIGN : DIGITAL_SIGNATURE | KEY_ENCIPHERMENT])),
  ];
  if (!req.isCa) extensions.push(extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1')))); // serverAuth
  if (req.dnsNames?.length) {
    extensions.push(extension('2.5.29.17', false, seq(...req.dnsNames.map((dns) => tlv(0x82, Buffer.from(dns, 'ascii'))))));
  }
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f;
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    ECDSA_SHA256,
    name(req.issuer.commonName),
    seq(time(notBefore), time(notAfter)),
    name(req.commonName),
    spki,
    explicit(3, seq(...extensions)),
  );
  const signature = sign('sha256', tbs, req.issuer.key);
  return pem('CERTIFICATE', seq(tbs, ECDSA_SHA256, tlv(0x03, Buffer.concat([Buffer.from([0]), signature]))));
}

function newKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

export class CertificateAuthority {
  private constructor(
    readonly commonName: string,
    private readonly key: KeyObject,
    readonly certPem: string,
  ) {}

  /** A new self-signed CA. */
  static create(commonName = 'meshcp-injector-ca', validDays = 3650): CertificateAuthority {
    const key = newKey();
    const certPem = certificate({ commonName, subjectKey: key, issuer: { commonName, key }, validDays, isCa: true });
    return new CertificateAuthority(commonName, key, certPem);
  }

  /** A CA from its PEM key and certificate (e.g. a mounted Secret). */
  static load(keyPem: string, certPem: string): CertificateAuthority {
    const cert = new X509Certificate(certPem);
    if (!cert.ca) throw new Error('the certificate is not a CA certificate');
    const key = createPrivateKey(keyPem);
    if (!cert.checkPrivateKey(key)) throw new Error('the key does not belong to the CA certificate');
    const commonName = /CN=([^\n,]+)/.exec(cert.subject)?.[1] ?? 'meshcp-injector-ca';
    return new CertificateAuthority(commonName, key, certPem);
  }

  get keyPem(): string {
    return this.key.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  /** A serving certificate for these DNS names (the first is also the common name). */
  issueServing(dnsNames: string[], validDays = 365): KeyAndCert {
    if (dnsNames.length === 0) throw new Error('a serving certificate needs at least one DNS name');
    const key = newKey();
    const certPem = certificate({
      commonName: dnsNames[0] as string,
      subjectKey: key,
      issuer: { commonName: this.commonName, key: this.key },
      validDays,
      isCa: false,
      dnsNames,
    });
    return { keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(), certPem };
  }
}
