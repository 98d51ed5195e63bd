/**
 * MeshAccessPolicy → the RBAC HTTP filter on xDS-enabled gRPC servers (gRFC A41), the
 * same contract as the sidecars' (`envoy/features/access-policy.ts`): once a policy
 * targets a service, an RPC is admitted only if some rule allows it — the caller's
 * SPIFFE ID (gRPC matches `principal_name` against the peer certificate's URI SAN
 * first) and the RPC's path. Refused RPCs end PERMISSION_DENIED.
 *
 * gRPC requests are all POST: a rule whose `to.methods` leave POST out can never match
 * and is not sent (degraded); one that lists POST needs no method condition.
 */
import type { HttpFilter } from '@meshcp/xds-protos';
import type { AccessRule, MeshAccessPolicy, MeshModel } from '../model/types.js';
import { pathCondition, rbacPrincipals } from '../rbac-principals.js';
import { RBAC } from '../type-urls.js';

function permissions(rule: AccessRule): object[] {
  const paths = pathCondition(rule);
  return [paths ?? { any: true }];
}

/** Policies guarding any of `services` (`namespace/name` keys). */
export function policiesGuarding(model: MeshModel, services: readonly string[]): MeshAccessPolicy[] {
  return (model.policies ?? []).filter((p) => services.includes(`${p.namespace}/${p.target}`));
}

/** The RBAC filter for a server listener, or undefined when no policy guards its services. */
export function grpcRbacFilter(policies: readonly MeshAccessPolicy[], degrade: (what: string) => void): HttpFilter | undefined {
  if (policies.length === 0) return undefined;
  const rules: Record<string, object> = {};
  for (const policy of policies) {
    policy.rules.forEach((rule, i) => {
      const name = `${policy.namespace}/${policy.name}/rule/${i}`;
      const methods = rule.to?.methods ?? [];
      if (methods.length > 0 && !methods.some((m) => m.toUpperCase() === 'POST')) {
        degrade(`MeshAccessPolicy ${name}: methods ${methods.join(', ')} never match a gRPC request (always POST); the rule admits no RPC on gRPC servers`);
        return;
      }
      rules[name] = { permissions: permissions(rule), principals: rbacPrincipals(rule) };
    });
  }
  // No policies left is still a filter: ALLOW with no policy admits nothing, as the sidecars do.
  return {
    name: 'envoy.filters.http.rbac',
    typed_config: { '@type': RBAC, rules: { action: 'ALLOW', policies: rules } },
  } as HttpFilter;
}
