/**
 * TLS for meshcp's own servers: a serving certificate from the mesh CA (DNS and IP
 * SANs plus meshcp's SPIFFE ID), renewed at half its lifetime without a restart,
 * and the trust bundle for client certificates. Client certificates are asked for
 * but not required at the TLS layer — a ServiceAccount token is the other way in —
 * so `StreamAuthenticator` decides what a certificate is worth.
 */
import { experimental, type ServerCredentials } from '@grpc/grpc-js';
import type { CertificateAuthority, Svid } from '../identity/ca.js';

type CertificateProvider = experimental.CertificateProvider;
type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

export interface ServingNames {
  dns: string[];
  ips: string[];
  spiffeId: string;
}

/** A certificate provider fed by the mesh CA; `refresh()` re-issues when renewal is due and republishes the bundle. */
export class MeshCertificateProvider implements CertificateProvider {
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private identity: experimental.IdentityCertificateUpdate | null = null;
  private bundle: experimental.CaCertificateUpdate | null = null;
  private notAfter = 0;
  private renewAt = 0;
  private serving?: Svid;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly ca: CertificateAuthority,
    private readonly names: ServingNames,
    private readonly now: () => number = Date.now,
  ) {}

  /** Issues the first certificate and renews it at half life until `stop()`. */
  async start(): Promise<void> {
    await this.refresh();
    const tick = () => {
      this.timer = setTimeout(
        () => {
          this.refresh().then(tick, tick);
        },
        Math.max(1_000, Math.min(this.renewAt - this.now(), 60_000)),
      );
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** The serving certificate's expiry (epoch ms), for status and metrics. */
  expiry(): number {
    return this.notAfter;
  }

  async refresh(): Promise<void> {
    // After a root rotation the serving certificate moves to the new root inside the overlap, like a workload's.
    const replaceBy = this.serving ? this.ca.replaceBy(this.serving, 'meshcp serving certificate') : undefined;
    if (!this.identity || this.now() >= this.renewAt || (replaceBy !== undefined && this.now() >= replaceBy)) {
      const svid = await this.ca.issueServing(this.names);
      this.serving = svid;
      this.identity = { certificate: Buffer.from(svid.certificateChainPem), privateKey: Buffer.from(svid.privateKeyPem) };
      this.notAfter = svid.notAfter.getTime();
      this.renewAt = svid.renewAt();
      for (const listener of this.identityListeners) listener(this.identity);
    }
    const bundle = this.ca.trustBundle().join('\n');
    if (this.bundle?.caCertificate.toString() !== bundle) {
      this.bundle = { caCertificate: Buffer.from(bundle) };
      for (const listener of this.caListeners) listener(this.bundle);
    }
  }

  // grpc-js registers its own watcher only after adding these listeners: deliver the current values on the next turn.
  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    setImmediate(() => this.bundle && this.caListeners.has(listener) && listener(this.bundle));
  }
  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    setImmediate(() => this.identity && this.identityListeners.has(listener) && listener(this.identity));
  }
  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}

/** Server credentials serving the provider's certificate and asking (not requiring) a client certificate. */
export function meshServerCredentials(provider: MeshCertificateProvider): ServerCredentials {
  return experimental.createCertificateProviderServerCredentials(provider, provider, false);
}
