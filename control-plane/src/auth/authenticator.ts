/**
 * Who opened a stream: a client certificate from the mesh CA, else a ServiceAccount
 * token in the `authorization: Bearer …` metadata, else — only when the operator
 * chose `--insecure` — nobody in particular. Failures are AuthErrors with a reason
 * for the metric; their messages never quote a token.
 */
import type { Metadata } from '@grpc/grpc-js';
import { AuthError, type StreamIdentity } from './identity.js';
import type { PeerCertificateLike } from './peer-certificate.js';
import { identityFromCertificate } from './peer-certificate.js';
import type { TokenReviewer } from './token-review.js';

export interface AuthenticatorOptions {
  /** Accept streams without credentials (plaintext development setups only). */
  allowUnauthenticated: boolean;
  trustDomain: string;
  /** The roots client certificates must chain to (read at each check: roots rotate). */
  trustBundle?: () => readonly string[];
  tokens?: TokenReviewer;
}

export interface CallCredentialsView {
  metadata: Metadata;
  getAuthContext?(): { sslPeerCertificate?: Partial<PeerCertificateLike> } | null;
}

const MAX_AUTHORIZATION_BYTES = 16 * 1024;

export class StreamAuthenticator {
  constructor(private readonly options: AuthenticatorOptions) {}

  async authenticate(call: CallCredentialsView): Promise<StreamIdentity> {
    const certificate = call.getAuthContext?.()?.sslPeerCertificate;
    if (certificate?.raw && this.options.trustBundle) {
      return identityFromCertificate({ ...certificate, raw: certificate.raw }, this.options.trustBundle(), this.options.trustDomain);
    }
    const header = call.metadata.get('authorization')[0];
    if (typeof header === 'string' && header.length > 0) {
      if (header.length > MAX_AUTHORIZATION_BYTES) throw new AuthError('invalid-token', 'authorization metadata too long');
      const bearer = /^Bearer\s+(\S+)$/i.exec(header);
      if (!bearer?.[1]) throw new AuthError('invalid-token', 'authorization metadata is not a bearer token');
      if (!this.options.tokens) throw new AuthError('invalid-token', 'this server does not accept tokens (no Kubernetes API configured)');
      return this.options.tokens.review(bearer[1]);
    }
    if (this.options.allowUnauthenticated) return { method: 'none' };
    throw new AuthError('missing-credentials', 'no client certificate and no bearer token');
  }
}
