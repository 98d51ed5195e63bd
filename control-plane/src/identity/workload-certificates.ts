/**
 * SVIDs for the workloads that are connected, delivered over SDS. The CA issues a
 * certificate when the first stream of an identity authenticates, publishes it and
 * the trust bundle as that identity's secrets, re-issues at half life and when the
 * bundle changes, and forgets the identity when its last stream ends. Keys are made
 * here and go only to streams that authenticated as that identity (the cache keys
 * secrets by identity); why not CSRs: Envoy cannot make one, and a sidecar agent
 * would be one more moving part per pod (docs/architecture.md).
 */
import { TRUST_BUNDLE_SECRET, WORKLOAD_CERTIFICATE_SECRET } from '@meshcp/translators';
import type { SnapshotCache } from '../cache/snapshot-cache.js';
import { logger } from '../log.js';
import type { CertificateSource, Metrics } from '../metrics.js';
import type { CertificateAuthority, Svid } from './ca.js';

interface Held {
  readers: number;
  svid?: Svid;
  bundleVersion?: string;
  issuing?: Promise<void>;
}

export class WorkloadCertificates implements CertificateSource {
  private readonly held = new Map<string, Held>();
  private readonly log = logger('identity');
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly ca: CertificateAuthority,
    private readonly cache: SnapshotCache,
    private readonly metrics?: Metrics,
    private readonly checkEveryMs = 1000,
  ) {
    metrics?.watchCertificates(this);
  }

  expiries(): number[] {
    const expiries: number[] = [];
    for (const held of this.held.values()) if (held.svid) expiries.push(held.svid.notAfter.getTime());
    return expiries;
  }

  trustBundleRoots(): number {
    return this.ca.trustBundle().length;
  }

  start(): void {
    this.timer = setInterval(() => this.refreshAll(), this.checkEveryMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** A stream of `namespace/serviceAccount` opened: its secrets are published before this resolves. */
  async acquire(identityKey: string): Promise<void> {
    let held = this.held.get(identityKey);
    if (!held) {
      held = { readers: 0 };
      this.held.set(identityKey, held);
    }
    held.readers++;
    await this.refresh(identityKey, held, this.ca.trustBundleVersion());
  }

  release(identityKey: string): void {
    const held = this.held.get(identityKey);
    if (!held) return;
    held.readers--;
    if (held.readers > 0) return;
    this.held.delete(identityKey);
    this.cache.setSecrets(identityKey, []);
  }

  /** What the admin API shows: identities served, and when their certificates expire. */
  status(): { identity: string; spiffeId?: string; notAfter?: string; serialNumber?: string; signer?: string; trustBundle?: string }[] {
    return [...this.held].map(([identity, held]) => ({
      identity,
      ...(held.svid
        ? { spiffeId: held.svid.spiffeId, notAfter: held.svid.notAfter.toISOString(), serialNumber: held.svid.serialNumber, signer: held.svid.signer }
        : {}),
      ...(held.bundleVersion ? { trustBundle: held.bundleVersion } : {}),
    }));
  }

  private refreshAll(): void {
    // One bundle hash per tick, not one per connected identity.
    const bundleVersion = this.ca.trustBundleVersion();
    for (const [key, held] of this.held) {
      this.refresh(key, held, bundleVersion).catch((error: unknown) =>
        this.log.error('certificate renewal failed', { identity: key, error: String((error as Error).message) }),
      );
    }
  }

  /** Renewal is due at half life, or, after a root rotation, inside the overlap (`CertificateAuthority.replaceBy`). */
  private renewalDue(identityKey: string, svid: Svid | undefined): boolean {
    if (!svid || svid.renewalDue()) return true;
    const replaceBy = this.ca.replaceBy(svid, identityKey);
    return replaceBy !== undefined && Date.now() >= replaceBy;
  }

  private refresh(identityKey: string, held: Held, bundleVersion: string): Promise<void> {
    if (held.issuing) return held.issuing;
    const renew = this.renewalDue(identityKey, held.svid);
    if (!renew && held.bundleVersion === bundleVersion) return Promise.resolve();
    held.issuing = (async () => {
      const [namespace = '', serviceAccount = ''] = identityKey.split('/');
      const svid = renew ? await this.ca.issue({ trustDomain: this.ca.trustDomain, namespace, serviceAccount }) : (held.svid as Svid);
      if (renew) this.metrics?.certificatesIssued.inc({ trust_domain: this.ca.trustDomain });
      held.svid = svid;
      held.bundleVersion = bundleVersion;
      if (this.held.get(identityKey) !== held) return; // released meanwhile
      this.cache.setSecrets(identityKey, [
        {
          name: WORKLOAD_CERTIFICATE_SECRET,
          tls_certificate: { certificate_chain: { inline_string: svid.certificateChainPem }, private_key: { inline_string: svid.privateKeyPem } },
        },
        { name: TRUST_BUNDLE_SECRET, validation_context: { trusted_ca: { inline_string: this.ca.trustBundle().join('\n') } } },
      ]);
      this.log.info('workload certificate published', {
        identity: svid.spiffeId,
        notAfter: svid.notAfter.toISOString(),
        signer: svid.signer,
        trustBundle: bundleVersion,
      });
    })().finally(() => {
      held.issuing = undefined;
    });
    return held.issuing;
  }
}
