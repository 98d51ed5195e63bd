/**
 * ServiceAccount tokens checked with the Kubernetes TokenReview API (as istiod's
 * XDS_AUTH does), bound to an audience so a token minted for another service is
 * refused. Results are cached by the token's hash — never the token itself — for a
 * short time and a bounded number of entries, so a reconnect storm costs one review
 * per workload, and a flood of garbage tokens cannot grow memory.
 */
import { createHash } from 'node:crypto';
import { AuthError, type StreamIdentity } from './identity.js';

/** What the reviewer needs of a Kubernetes client: one authenticated request. */
export interface KubeRequester {
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
}

interface TokenReviewStatus {
  status?: { authenticated?: boolean; error?: string; audiences?: string[]; user?: { username?: string } };
}

export interface TokenReviewerOptions {
  audience: string;
  trustDomain: string;
  /** How long a verdict is reused. */
  cacheTtlMs?: number;
  maxCacheEntries?: number;
  /** Tokens longer than this are refused unread (a JWT is a few KiB). */
  maxTokenBytes?: number;
  now?: () => number;
}

const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([a-z0-9-]{1,63}):([a-z0-9.-]{1,253})$/;

export class TokenReviewer {
  private readonly cache = new Map<string, { expires: number; identity?: StreamIdentity; error?: AuthError }>();
  private readonly inFlight = new Map<string, Promise<StreamIdentity>>();
  private readonly ttl: number;
  private readonly maxEntries: number;
  private readonly maxTokenBytes: number;
  private readonly now: () => number;

  constructor(
    private readonly kube: KubeRequester,
    private readonly options: TokenReviewerOptions,
  ) {
    this.ttl = options.cacheTtlMs ?? 60_000;
    this.maxEntries = options.maxCacheEntries ?? 10_000;
    this.maxTokenBytes = options.maxTokenBytes ?? 16 * 1024;
    this.now = options.now ?? Date.now;
  }

  async review(token: string): Promise<StreamIdentity> {
    if (token.length === 0 || token.length > this.maxTokenBytes) throw new AuthError('invalid-token', 'token is empty or too long');
    const key = createHash('sha256').update(token).digest('base64url');
    const cached = this.cache.get(key);
    if (cached && cached.expires > this.now()) {
      if (cached.error) throw cached.error;
      return cached.identity as StreamIdentity;
    }
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.ask(token).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    try {
      const identity = await pending;
      this.remember(key, { expires: this.now() + this.ttl, identity });
      return identity;
    } catch (error) {
      // An unreachable API server is not a verdict on the token: do not cache it.
      if (error instanceof AuthError && error.reason === 'invalid-token') this.remember(key, { expires: this.now() + this.ttl, error });
      throw error;
    }
  }

  private remember(key: string, entry: { expires: number; identity?: StreamIdentity; error?: AuthError }): void {
    this.cache.delete(key);
    this.cache.set(key, entry);
    while (this.cache.size > this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }

  private async ask(token: string): Promise<StreamIdentity> {
    let review: TokenReviewStatus;
    try {
      review = await this.kube.request<TokenReviewStatus>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, audiences: [this.options.audience] },
      });
    } catch (error) {
      throw new AuthError('token-review-unavailable', `TokenReview failed: ${String((error as Error).message).slice(0, 200)}`);
    }
    const status = review.status ?? {};
    if (!status.authenticated) throw new AuthError('invalid-token', `token not authenticated${status.error ? `: ${status.error.slice(0, 200)}` : ''}`);
    if (!(status.audiences ?? []).includes(this.options.audience)) throw new AuthError('invalid-token', `token is not for audience ${this.options.audience}`);
    const user = SERVICE_ACCOUNT_USER.exec(status.user?.username ?? '');
    if (!user) throw new AuthError('invalid-token', 'token does not belong to a ServiceAccount');
    const [, namespace = '', serviceAccount = ''] = user;
    return { method: 'token', namespace, serviceAccount, spiffeId: `spiffe://${this.options.trustDomain}/ns/${namespace}/sa/${serviceAccount}` };
  }
}
