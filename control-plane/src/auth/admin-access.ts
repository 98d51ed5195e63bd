/**
 * Who may read the admin API. Health, readiness and metrics are open (probes and
 * Prometheus); `/debug/*` shows every proxy's configuration, so off loopback it
 * needs a bearer token that the Kubernetes API authenticates (TokenReview) and
 * authorizes for `get` on that path (SubjectAccessReview with non-resource
 * attributes, as kube-rbac-proxy does). Verdicts are cached briefly by token hash.
 */
import { createHash } from 'node:crypto';
import type { KubeRequester } from './token-review.js';

export type AdminVerdict = { allowed: true } | { allowed: false; status: 401 | 403 | 405 | 503; message: string };

export interface AdminRequest {
  method: string;
  path: string;
  remoteAddress: string;
  authorization?: string;
}

const OPEN_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

export function isLoopback(address: string): boolean {
  return LOOPBACK.test(address);
}

export class AdminAccess {
  private readonly cache = new Map<string, { expires: number; verdict: AdminVerdict }>();

  constructor(
    private readonly kube: KubeRequester | undefined,
    private readonly options: { cacheTtlMs?: number; maxEntries?: number; now?: () => number } = {},
  ) {}

  async check(request: AdminRequest): Promise<AdminVerdict> {
    if (request.method !== 'GET' && request.method !== 'HEAD') return { allowed: false, status: 405, message: 'the admin API is read-only: GET only' };
    if (OPEN_PATHS.has(request.path) || isLoopback(request.remoteAddress)) return { allowed: true };
    const bearer = /^Bearer\s+(\S{1,16384})$/i.exec(request.authorization ?? '');
    if (!bearer?.[1]) return { allowed: false, status: 401, message: 'a bearer token is required off loopback' };
    if (!this.kube) return { allowed: false, status: 403, message: 'no Kubernetes API to check tokens with: /debug is reachable on loopback only' };
    const now = (this.options.now ?? Date.now)();
    const key = `${createHash('sha256').update(bearer[1]).digest('base64url')} ${request.path}`;
    const cached = this.cache.get(key);
    if (cached && cached.expires > now) return cached.verdict;
    const verdict = await this.review(bearer[1], request.path);
    if (verdict.allowed || verdict.status !== 503) {
      this.cache.set(key, { expires: now + (this.options.cacheTtlMs ?? 30_000), verdict });
      while (this.cache.size > (this.options.maxEntries ?? 1_000)) this.cache.delete(this.cache.keys().next().value as string);
    }
    return verdict;
  }

  private async review(token: string, path: string): Promise<AdminVerdict> {
    const kube = this.kube as KubeRequester;
    try {
      const review = await kube.request<{ status?: { authenticated?: boolean; user?: { username?: string; uid?: string; groups?: string[] } } }>(
        'POST',
        '/apis/authentication.k8s.io/v1/tokenreviews',
        { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
      );
      const user = review.status?.user;
      if (!review.status?.authenticated || !user?.username) return { allowed: false, status: 401, message: 'token not authenticated' };
      const access = await kube.request<{ status?: { allowed?: boolean } }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { user: user.username, uid: user.uid, groups: user.groups ?? [], nonResourceAttributes: { path, verb: 'get' } },
      });
      return access.status?.allowed ? { allowed: true } : { allowed: false, status: 403, message: `${user.username} may not get ${path}` };
    } catch (error) {
      return { allowed: false, status: 503, message: `cannot check the token: ${String((error as Error).message).slice(0, 200)}` };
    }
  }
}
