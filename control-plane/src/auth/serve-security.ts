/**
 * How `meshcp serve` secures its xDS port. Secure is the default: TLS with a
 * serving certificate from the mesh CA, and every stream authenticated by a client
 * certificate from that CA or (with a Kubernetes API) a ServiceAccount token.
 * Plaintext needs `--insecure`, and on anything but loopback also
 * MESHCP_INSECURE_NON_LOOPBACK=yes — a user must say it twice.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ServerCredentials } from '@grpc/grpc-js';
import { CertificateAuthority } from '../identity/ca.js';
import { FileCaStore } from '../identity/file-store.js';
import { SecretCaStore } from '../identity/secret-store.js';
import { DEFAULT_TRUST_DOMAIN, isValidTrustDomain } from '../identity/spiffe.js';
import { logger } from '../log.js';
import { isLoopback } from './admin-access.js';
import { StreamAuthenticator } from './authenticator.js';
import { MeshCertificateProvider, meshServerCredentials } from './tls.js';
import { type KubeRequester, TokenReviewer } from './token-review.js';

export interface ServeSecurityOptions {
  insecure: boolean;
  xdsHost: string;
  trustDomain?: string;
  /** Where a file-backed CA keeps its state (no Kubernetes API). */
  stateDir: string;
  /** Extra names for the serving certificate (DNS names or IPs). */
  names?: string[];
  tokenAudience?: string;
  /** Lifetime of workload SVIDs (default 24 h); renewed at half of it. */
  svidTtlMs?: number;
  /** With a Kubernetes API: tokens are reviewed and the CA lives in a Secret of this namespace. */
  kube?: { client: KubeRequester; namespace: string };
  env?: NodeJS.ProcessEnv;
  /** How often the CA re-reads its store for a rotated root (default 2 s for a file, 30 s for a Secret). */
  caReloadMs?: number;
}

export interface ServeSecurity {
  credentials?: ServerCredentials;
  authenticator?: StreamAuthenticator;
  ca?: CertificateAuthority;
  /** When the xDS serving certificate expires (epoch ms), for the metric. */
  servingExpiry?: () => number;
  stop(): void;
}

export class InsecureRefused extends Error {}

const IP = /^[\d.]+$|:/;

export async function serveSecurity(options: ServeSecurityOptions): Promise<ServeSecurity> {
  if (options.insecure) {
    const anyAddress = options.xdsHost === '0.0.0.0' || options.xdsHost === '::' || options.xdsHost === '';
    if ((anyAddress || !isLoopback(options.xdsHost)) && (options.env ?? process.env).MESHCP_INSECURE_NON_LOOPBACK !== 'yes') {
      throw new InsecureRefused(
        `--insecure serves every proxy's configuration in plaintext to anyone who connects; on ${options.xdsHost || 'all addresses'} (not loopback) it also needs MESHCP_INSECURE_NON_LOOPBACK=yes`,
      );
    }
    return { stop() {} };
  }
  const trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  if (!isValidTrustDomain(trustDomain)) throw new Error(`--trust-domain ${JSON.stringify(trustDomain)} is not a valid SPIFFE trust domain`);
  const store = options.kube ? new SecretCaStore(options.kube.client, options.kube.namespace) : new FileCaStore(join(options.stateDir, 'ca.json'));
  const ca = await CertificateAuthority.open({ trustDomain, store, ...(options.svidTtlMs ? { svidTtlMs: options.svidTtlMs } : {}) });
  const names = new Set(['localhost', '127.0.0.1', '::1', hostname(), ...(options.names ?? [])]);
  if (options.xdsHost && options.xdsHost !== '0.0.0.0' && options.xdsHost !== '::') names.add(options.xdsHost);
  const provider = new MeshCertificateProvider(ca, {
    dns: [...names].filter((n) => !IP.test(n)),
    ips: [...names].filter((n) => IP.test(n)),
    spiffeId: `spiffe://${trustDomain}/ns/${options.kube?.namespace ?? 'meshcp-system'}/sa/meshcp`,
  });
  await provider.start();
  const authenticator = new StreamAuthenticator({
    allowUnauthenticated: false,
    trustDomain,
    trustBundle: () => ca.trustBundle(),
    ...(options.kube ? { tokens: new TokenReviewer(options.kube.client, { audience: options.tokenAudience ?? 'meshcp', trustDomain }) } : {}),
  });
  // A root rotated by `meshcp identity rotate-root` (or another replica) is picked up from
  // the store: a file is cheap to re-read, a Secret costs an API call per replica.
  const reloadEveryMs = options.caReloadMs ?? (options.kube ? 30_000 : 2_000);
  const log = logger('identity');
  let reloading = false;
  const reloader = setInterval(() => {
    if (reloading) return;
    reloading = true;
    ca.reload()
      .then(async (rotated) => {
        // The TLS layer's trust bundle and serving certificate follow the CA (a new root, an old one dropped).
        await provider.refresh();
        if (rotated) log.info('root rotation picked up from the CA store', { signer: ca.signerId(), trustBundle: ca.trustBundleVersion() });
      })
      .catch((error: unknown) => log.error('CA store unreadable; keeping the CA in memory', { error: String((error as Error).message).slice(0, 300) }))
      .finally(() => {
        reloading = false;
      });
  }, reloadEveryMs);
  reloader.unref();
  return {
    credentials: meshServerCredentials(provider),
    authenticator,
    ca,
    servingExpiry: () => provider.expiry(),
    stop: () => {
      clearInterval(reloader);
      provider.stop();
    },
  };
}
