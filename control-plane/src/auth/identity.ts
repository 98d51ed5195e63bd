/**
 * Who is on the other end of an xDS stream, and whether its node may claim what it
 * claims. A stream's identity comes from its transport (a client certificate with a
 * SPIFFE ID) or its credentials (a Kubernetes ServiceAccount token), never from the
 * node it sends: the node is a claim to check against the identity.
 */
import type { NodeLike } from '@meshcp/translators';

export interface StreamIdentity {
  /** How the identity was established. 'none' only when the server runs with --insecure. */
  method: 'certificate' | 'token' | 'none';
  namespace?: string;
  serviceAccount?: string;
  /** The SPIFFE ID, when the identity is a workload certificate or derived from a token. */
  spiffeId?: string;
}

/** Node metadata keys a proxy states its workload with (set by `meshcp bootstrap` and the injector). */
export const IDENTITY_METADATA = { namespace: 'meshcp.namespace', serviceAccount: 'meshcp.service_account' } as const;

export type AuthFailureReason =
  | 'missing-credentials'
  | 'invalid-token'
  | 'token-review-unavailable'
  | 'untrusted-certificate'
  | 'not-a-workload-identity'
  | 'namespace-mismatch'
  | 'service-account-mismatch'
  | 'node-id-namespace-mismatch';

export class AuthError extends Error {
  constructor(
    readonly reason: AuthFailureReason,
    message: string,
  ) {
    super(message);
  }
}

function claimed(node: NodeLike, key: string): string | undefined {
  const value = node.metadata?.[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** A Kubernetes namespace name (an RFC 1123 label). */
const NAMESPACE_LABEL = '[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?';
/** Istio's form, which some bootstraps copy: `<type>~<ip>~<pod>.<namespace>~<namespace>.svc.<domain>`. */
const ISTIO_NODE_ID = new RegExp(`^[a-z]+~[^~]*~[^~]*\\.(${NAMESPACE_LABEL})~(${NAMESPACE_LABEL})\\.svc(?:\\.[^~]*)?$`);

/**
 * The namespaces a node id names, when it has a form that unmistakably carries one
 * (Istio's `sidecar~ip~<pod>.<ns>~<ns>.svc.…`); none for any other id. meshcp's
 * injector writes `<pod>.<namespace>`, but so does a VM's `web.prod` or `vm1.internal`
 * (`meshcp bootstrap --node-id` takes any string), so that form is not read: streams
 * are counted and shown per identity anyway, so a borrowed node id takes nothing from
 * its owner.
 */
export function namespacesInNodeId(id: string): string[] {
  const istio = ISTIO_NODE_ID.exec(id);
  return istio ? [istio[1] as string, istio[2] as string] : [];
}

/**
 * Refuses a node whose claims disagree with its authenticated identity: its
 * namespace must be the identity's, and a service account it states must be the
 * identity's. A node that states no namespace is held to the identity's namespace.
 * A node id that names a namespace (namespacesInNodeId) must name the identity's:
 * a workload may not present itself as another namespace's pod.
 */
export function checkNodeClaims(identity: StreamIdentity, node: NodeLike): void {
  if (identity.method === 'none') return;
  const namespace = claimed(node, IDENTITY_METADATA.namespace) ?? claimed(node, 'NAMESPACE');
  if (namespace !== undefined && namespace !== identity.namespace) {
    throw new AuthError(
      'namespace-mismatch',
      `node ${JSON.stringify(node.id ?? '')} claims namespace ${JSON.stringify(namespace)} but authenticated as ${describe(identity)}`,
    );
  }
  const nodeId = typeof node.id === 'string' ? node.id : '';
  const named = namespacesInNodeId(nodeId).find((inId) => inId !== identity.namespace);
  if (named !== undefined) {
    throw new AuthError(
      'node-id-namespace-mismatch',
      `node id ${JSON.stringify(nodeId.slice(0, 128))} names namespace ${JSON.stringify(named)} but the stream authenticated as ${describe(identity)}`,
    );
  }
  const serviceAccount = claimed(node, IDENTITY_METADATA.serviceAccount);
  if (serviceAccount !== undefined && serviceAccount !== identity.serviceAccount) {
    throw new AuthError(
      'service-account-mismatch',
      `node ${JSON.stringify(node.id ?? '')} claims service account ${JSON.stringify(serviceAccount)} but authenticated as ${describe(identity)}`,
    );
  }
}

export function describe(identity: StreamIdentity): string {
  return identity.spiffeId ?? (identity.namespace ? `${identity.namespace}/${identity.serviceAccount ?? ''}` : identity.method);
}
