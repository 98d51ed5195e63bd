/** SPIFFE IDs of mesh workloads: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`. */

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

export interface WorkloadIdentity {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const TRUST_DOMAIN = /^[a-z0-9]([-a-z0-9.]{0,253}[a-z0-9])?$/;

export function spiffeId(identity: WorkloadIdentity): string {
  return `spiffe://${identity.trustDomain}/ns/${identity.namespace}/sa/${identity.serviceAccount}`;
}

/** Parses a workload SPIFFE ID; undefined for anything else (other path shapes, bad labels). */
export function parseSpiffeId(uri: string): WorkloadIdentity | undefined {
  const match = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  if (!match) return undefined;
  const [, trustDomain = '', namespace = '', serviceAccount = ''] = match;
  if (!TRUST_DOMAIN.test(trustDomain) || !LABEL.test(namespace) || !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(serviceAccount)) return undefined;
  return { trustDomain, namespace, serviceAccount };
}

export function isValidTrustDomain(trustDomain: string): boolean {
  return TRUST_DOMAIN.test(trustDomain);
}
