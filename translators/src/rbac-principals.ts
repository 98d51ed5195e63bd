/**
 * Who a MeshAccessPolicy rule admits, as RBAC principals: one contract for the Envoy
 * sidecars (`envoy/features/access-policy.ts`) and xDS-enabled gRPC servers
 * (`grpc/rbac.ts`), both matching the caller's SPIFFE ID (its certificate's URI SAN).
 */
import type { AccessRule } from './model/types.js';

/** Any trust domain the bundle trusts: only the mesh CA issues the peer's certificate. */
const TRUST_DOMAIN = 'spiffe://[^/]+';

/** The text as a regular expression that matches it literally. */
export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function principalName(regex: string): object {
  return { authenticated: { principal_name: { safe_regex: { regex } } } };
}

/** The rule's sources; a rule with none admits any workload of the mesh (never a plaintext caller). */
export function rbacPrincipals(rule: AccessRule): object[] {
  if (rule.from.length === 0) return [principalName(`^${TRUST_DOMAIN}/ns/[^/]+/sa/[^/]+$`)];
  return rule.from.flatMap((source) => [
    ...(source.namespaces ?? []).map((ns) => principalName(`^${TRUST_DOMAIN}/ns/${escapeRegex(ns)}/sa/[^/]+$`)),
    ...(source.serviceAccounts ?? []).map((sa) => principalName(`^${TRUST_DOMAIN}/ns/${escapeRegex(sa.namespace)}/sa/${escapeRegex(sa.name)}$`)),
    ...(source.spiffeIds ?? []).map((id) => ({ authenticated: { principal_name: { exact: id } } })),
  ]);
}

/** The rule's path prefixes as one RBAC permission condition, or undefined when it names none. */
export function pathCondition(rule: AccessRule): object | undefined {
  const paths = rule.to?.paths ?? [];
  return paths.length > 0 ? { or_rules: { rules: paths.map((prefix) => ({ url_path: { path: { prefix } } })) } } : undefined;
}
