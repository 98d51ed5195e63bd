/**
 * MeshAccessPolicy → Envoy's RBAC HTTP filter on the inbound side. Once any policy
 * targets the proxy's own service, a request is admitted only if a rule allows it:
 * the caller's workload identity (the URI SAN of its mTLS certificate) matches one
 * of the rule's sources, and its path and method match the rule's `to`. Anything
 * else gets 403. Identities come from mTLS, so a policy on a DISABLE service admits
 * nobody (and is reported as degraded).
 */
import { mtlsModeOf } from '../../model/services.js';
import { type AccessRule, type MeshAccessPolicy, type MeshModel, serviceKey } from '../../model/types.js';
import { pathCondition, rbacPrincipals } from '../../rbac-principals.js';
import { RBAC } from '../../type-urls.js';
import type { EnvoyFeature } from '../feature.js';

function permissions(rule: AccessRule): object[] {
  const methods = rule.to?.methods ?? [];
  const methodMatch = methods.map((method) => ({ header: { name: ':method', string_match: { exact: method } } }));
  const conditions = [pathCondition(rule), methodMatch.length > 0 ? { or_rules: { rules: methodMatch } } : undefined].filter((c) => c !== undefined);
  if (conditions.length === 0) return [{ any: true }];
  return [{ and_rules: { rules: conditions } }];
}

function policiesFor(model: MeshModel, namespace: string, service: string): MeshAccessPolicy[] {
  return (model.policies ?? []).filter((p) => p.namespace === namespace && p.target === service);
}

export const accessPolicy: EnvoyFeature = {
  name: 'access-policy',
  httpFilters({ model, scope }, direction) {
    if (direction !== 'inbound') return [];
    const targeting = policiesFor(model, scope.namespace, scope.service);
    if (targeting.length === 0) return [];
    const policies: Record<string, object> = {};
    for (const policy of targeting) {
      policy.rules.forEach((rule, i) => {
        policies[`${policy.namespace}/${policy.name}/rule/${i}`] = { permissions: permissions(rule), principals: rbacPrincipals(rule) };
      });
    }
    return [
      {
        name: 'envoy.filters.http.rbac',
        typed_config: { '@type': RBAC, rules: { action: 'ALLOW', policies } },
      },
    ];
  },
  degraded({ model }) {
    return (model.policies ?? [])
      .filter((policy) => mtlsModeOf(model.services.get(serviceKey(policy.namespace, policy.target))) === 'DISABLE')
      .map(
        (policy) =>
          `MeshAccessPolicy ${policy.namespace}/${policy.name}: its service has mtls DISABLE, so callers have no identity and every request is refused (403); set spec.mtls.mode`,
      );
  },
};
