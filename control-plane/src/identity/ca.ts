/**
 * meshcp's certificate authority: issues short-lived X.509 SVIDs (a SPIFFE ID as
 * the only URI SAN) from a root it creates and keeps, or from an intermediate the
 * user provides. Roots rotate with an overlap: during it both roots are in the
 * trust bundle, so a proxy holding a certificate from either is trusted.
 *
 * Keys are ECDSA P-256, made with WebCrypto. Private keys live in memory and in the
 * store the operator chose (a file with mode 0600, or a Kubernetes Secret); they
 * never appear in logs, metrics, debug output or errors — `Svid` keeps its key out
 * of JSON and `inspect` on purpose.
 */
import 'reflect-metadata'; // @peculiar/x509's dependency injection needs it loaded first
import { createHash, webcrypto } from 'node:crypto';
import { inspect } from 'node:util';
import * as x509 from '@peculiar/x509';
import { spiffeId, type WorkloadIdentity } from './spiffe.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
/** Clocks on different hosts disagree a little; certificates start this much in the past. */
const CLOCK_SKEW_MS = 60_000;

export const DEFAULT_SVID_TTL_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_ROOT_TTL_MS = 365 * 24 * 60 * 60 * 1000;

/** A signing certificate and its key, as PEM. */
export interface SigningMaterial {
  certificatePem: string;
  privateKeyPem: string;
  /** For an intermediate: the chain up to (not including) the root, PEM, concatenated. */
  chainPem?: string;
}

/** What a CA store holds: the signer in use and every root still trusted. */
export interface CaState {
  signer: SigningMaterial;
  /** Trusted roots, PEM, newest first; the signer's root among them. */
  roots: string[];
  /** When each root other than the current one stops being trusted (epoch ms), by PEM. */
  retiring: Record<string, number>;
  /** When the signer last changed by a root rotation (epoch ms): the overlap runs from here to the old roots' retirement. */
  rotatedAt?: number;
}

export interface CaStore {
  load(): Promise<CaState | undefined>;
  save(state: CaState): Promise<void>;
  /** First start: store `state` unless another replica got there first; returns the state that won. */
  create?(state: CaState): Promise<CaState>;
}

/** An issued workload certificate. Its key is reachable only through `privateKeyPem`. */
export class Svid {
  readonly #privateKeyPem: string;

  constructor(
    readonly spiffeId: string,
    /** Leaf first, then intermediates. */
    readonly certificateChainPem: string,
    privateKeyPem: string,
    readonly notBefore: Date,
    readonly notAfter: Date,
    readonly serialNumber: string,
    /** When it was issued (notBefore is set back for clock skew, so it is not this). */
    readonly issuedAt: Date = notBefore,
    /** Which signing certificate issued it (`signerId`): tells an old-root SVID after a rotation. */
    readonly signer = '',
  ) {
    this.#privateKeyPem = privateKeyPem;
  }

  get privateKeyPem(): string {
    return this.#privateKeyPem;
  }

  /** Renewal is due at half of the lifetime it was issued for (as SPIRE and Istio do). */
  renewalDue(now = Date.now()): boolean {
    return now >= this.renewAt();
  }

  renewAt(): number {
    return this.issuedAt.getTime() + (this.notAfter.getTime() - this.issuedAt.getTime()) / 2;
  }

  toJSON(): object {
    return { spiffeId: this.spiffeId, notAfter: this.notAfter.toISOString(), serialNumber: this.serialNumber, signer: this.signer };
  }

  [inspect.custom](): string {
    return `Svid(${this.spiffeId}, expires ${this.notAfter.toISOString()})`;
  }
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive
  return Buffer.from(bytes).toString('hex');
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importSigningKey(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  if (!der) throw new Error('signing key: no PEM block');
  return (await webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign'])) as unknown as CryptoKey;
}

/** A short, stable name for a certificate (PEM): what status and debug output show for a root or signer. */
export function certificateId(pem: string): string {
  return createHash('sha256').update(pem).digest('base64url').slice(0, 12);
}

/** A new self-signed root for a trust domain. */
export async function createRoot(trustDomain: string, ttlMs = DEFAULT_ROOT_TTL_MS, now = Date.now()): Promise<SigningMaterial> {
  const keys = (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `O=meshcp, CN=meshcp root ${trustDomain} ${new Date(now).toISOString()}`,
    notBefore: new Date(now - CLOCK_SKEW_MS),
    notAfter: new Date(now + ttlMs),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${trustDomain}` }]),
    ],
  });
  return { certificatePem: certificate.toString('pem'), privateKeyPem: await exportKeyPem(keys.privateKey) };
}

export interface CertificateAuthorityOptions {
  trustDomain: string;
  store: CaStore;
  /** Sign with this (e.g. an intermediate from cert-manager) instead of a root meshcp creates. */
  signer?: SigningMaterial;
  /** Trust bundle to publish with a user-provided signer (its root, PEM). */
  roots?: string[];
  svidTtlMs?: number;
  now?: () => number;
}

export class CertificateAuthority {
  private signerIdCache?: { pem: string; id: string };
  /** The trusted roots by `certificateId`, for the roots list they were hashed from (the state replaces the list on every change). */
  private rootsByIdCache?: { roots: readonly string[]; byId: ReadonlyMap<string, string> };

  private constructor(
    readonly trustDomain: string,
    private state: CaState,
    private signingKey: CryptoKey,
    private readonly store: CaStore,
    private readonly svidTtlMs: number,
    private readonly now: () => number,
    private readonly userSigner: boolean,
  ) {}

  /** Loads the CA from its store, or creates (and stores) a root on first start. */
  static async open(options: CertificateAuthorityOptions): Promise<CertificateAuthority> {
    const now = options.now ?? Date.now;
    let state: CaState | undefined;
    if (options.signer) {
      state = { signer: options.signer, roots: options.roots ?? [options.signer.certificatePem], retiring: {} };
    } else {
      state = await options.store.load();
      if (!state) {
        const root = await createRoot(options.trustDomain, DEFAULT_ROOT_TTL_MS, now());
        const created: CaState = { signer: root, roots: [root.certificatePem], retiring: {} };
        if (options.store.create) state = await options.store.create(created);
        else {
          await options.store.save(created);
          state = created;
        }
      }
    }
    const key = await importSigningKey(state.signer.privateKeyPem);
    return new CertificateAuthority(
      options.trustDomain,
      state,
      key,
      options.store,
      options.svidTtlMs ?? DEFAULT_SVID_TTL_MS,
      now,
      options.signer !== undefined,
    );
  }

  /**
   * Adopts what the store holds now when another process changed it (`meshcp identity
   * rotate-root`, or another replica sharing the Secret). True when the signer changed.
   * A user-provided signer is never replaced from the store.
   */
  async reload(): Promise<boolean> {
    if (this.userSigner) return false;
    const stored = await this.store.load();
    if (!stored || stored.signer.certificatePem === this.state.signer.certificatePem) {
      if (stored) this.state = { ...this.state, retiring: stored.retiring, roots: stored.roots };
      return false;
    }
    const key = await importSigningKey(stored.signer.privateKeyPem);
    this.state = stored;
    this.signingKey = key;
    return true;
  }

  /** The signing certificate in use, by `certificateId` (asked per connected identity per renewal tick: hashed once per signer). */
  signerId(): string {
    const pem = this.state.signer.certificatePem;
    if (this.signerIdCache?.pem !== pem) this.signerIdCache = { pem, id: certificateId(pem) };
    return this.signerIdCache.id;
  }

  /** A trusted root by its `certificateId` (asked per identity per renewal tick during a rotation: the roots are hashed once per list). */
  private rootById(id: string): string | undefined {
    const roots = this.state.roots;
    if (this.rootsByIdCache?.roots !== roots) {
      const byId = new Map<string, string>();
      // The first root with an id wins, as a search of the list would find it.
      for (const pem of roots) {
        const id = certificateId(pem);
        if (!byId.has(id)) byId.set(id, pem);
      }
      this.rootsByIdCache = { roots, byId };
    }
    return this.rootsByIdCache.byId.get(id);
  }

  /**
   * When an SVID from an earlier signer must be replaced: inside the overlap, not at
   * its end, spread over the overlap's second quarter by identity (a rotation does
   * not re-issue every certificate in one tick), and never later than its own renewal.
   * Undefined for an SVID of the current signer.
   */
  replaceBy(svid: Svid, identityKey: string): number | undefined {
    if (svid.signer === this.signerId()) return undefined;
    const rotatedAt = this.state.rotatedAt ?? this.now();
    // The SVID's own root when it is one of ours, else (an old intermediate) the earliest retirement.
    const own = this.rootById(svid.signer);
    const retiresAt = own
      ? (this.state.retiring[own] ?? rotatedAt)
      : Math.min(...this.state.roots.filter((pem) => pem !== this.state.signer.certificatePem).map((pem) => this.state.retiring[pem] ?? rotatedAt));
    if (!Number.isFinite(retiresAt)) return this.now(); // its root is gone already
    const spread = (createHash('sha256').update(identityKey).digest().readUInt16BE(0) / 0x10000) * 0.25;
    return Math.min(svid.renewAt(), rotatedAt + (retiresAt - rotatedAt) * (0.25 + spread));
  }

  /** The roots a proxy must trust now, PEM, newest first. Retired roots past their overlap are dropped. */
  trustBundle(): string[] {
    const now = this.now();
    return this.state.roots.filter((pem) => pem === this.state.signer.certificatePem || (this.state.retiring[pem] ?? Number.POSITIVE_INFINITY) > now);
  }

  /** A version string that changes whenever the bundle does. */
  trustBundleVersion(): string {
    return createHash('sha256').update(this.trustBundle().join('\n')).digest('base64url').slice(0, 16);
  }

  /**
   * Starts signing with a new root; the old one stays trusted for `overlapMs`, so
   * certificates issued from it keep working until they are renewed.
   */
  async rotateRoot(overlapMs: number): Promise<void> {
    const now = this.now();
    const root = await createRoot(this.trustDomain, DEFAULT_ROOT_TTL_MS, now);
    const roots = [root.certificatePem, ...this.trustBundle()];
    // Roots no longer trusted leave the state (and their retirement times with them).
    const retiring: Record<string, number> = {};
    for (const pem of roots.slice(1)) retiring[pem] = Math.min(this.state.retiring[pem] ?? Number.POSITIVE_INFINITY, now + overlapMs);
    this.state = { signer: root, roots, retiring, rotatedAt: now };
    this.signingKey = await importSigningKey(root.privateKeyPem);
    await this.store.save(this.state);
  }

  /** Issues an SVID for a workload identity, valid for the CA's SVID lifetime (or `ttlMs`). */
  async issue(identity: WorkloadIdentity, ttlMs = this.svidTtlMs): Promise<Svid> {
    if (identity.trustDomain !== this.trustDomain)
      throw new Error(`identity is in trust domain ${identity.trustDomain}, this CA signs for ${this.trustDomain}`);
    const id = spiffeId(identity);
    return this.sign(id, [{ type: 'url', value: id }], ttlMs);
  }

  /**
   * A serving certificate for meshcp itself (the xDS server, the injection webhook):
   * DNS names and IP addresses as SANs, plus meshcp's own SPIFFE ID.
   */
  async issueServing(names: { dns: string[]; ips: string[]; spiffeId: string }, ttlMs = this.svidTtlMs): Promise<Svid> {
    const sans: x509.JsonGeneralName[] = [
      ...names.dns.map((value) => ({ type: 'dns' as const, value })),
      ...names.ips.map((value) => ({ type: 'ip' as const, value })),
      { type: 'url', value: names.spiffeId },
    ];
    return this.sign(names.spiffeId, sans, ttlMs);
  }

  private async sign(id: string, sans: x509.JsonGeneralName[], ttlMs: number): Promise<Svid> {
    const now = this.now();
    const keys = (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
    const issuer = new x509.X509Certificate(this.state.signer.certificatePem);
    const notBefore = new Date(now - CLOCK_SKEW_MS);
    const notAfter = new Date(Math.min(now + ttlMs, issuer.notAfter.getTime()));
    const serialNumber = randomSerial();
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber,
      subject: `O=meshcp`,
      issuer: issuer.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: this.signingKey,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension(sans, true),
        await x509.AuthorityKeyIdentifierExtension.create(issuer),
      ],
    });
    const chain = [certificate.toString('pem'), ...(this.state.signer.chainPem ? [this.state.signer.chainPem] : [])].join('\n');
    return new Svid(id, chain, await exportKeyPem(keys.privateKey), notBefore, notAfter, serialNumber, new Date(now), this.signerId());
  }
}
