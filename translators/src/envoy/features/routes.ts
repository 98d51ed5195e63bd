import type {
  RouteMatch as EnvoyRouteMatch,
  HeaderMatcher,
  HeaderValueOption,
  RetryPolicy,
  Route,
  RouteAction,
  RouteConfiguration,
  StringMatcher,
  VirtualHost,
} from '@meshcp/xds-protos';
import {
  type HeaderModifier,
  type MeshModel,
  type MeshRoute,
  type MeshService,
  type RouteMatch,
  type RouteRule,
  type ServicePort,
  serviceKey,
} from '../../model/types.js';
import { type EnvoyProfile, supports } from '../capabilities.js';
import { clusterName, domainsFor, outboundRouteName } from '../names.js';
import { durationText } from './cluster.js';

function pathMatch(match: RouteMatch): EnvoyRouteMatch {
  const path = match.path ?? { type: 'PathPrefix', value: '/' };
  switch (path.type) {
    case 'Exact':
      return { path: path.value };
    case 'RegularExpression':
      return { safe_regex: { regex: path.value } };
    default: {
      // Gateway API prefixes match whole path segments: /v2 matches /v2 and /v2/x, not /v2x.
      const trimmed = path.value.replace(/\/+$/, '');
      return trimmed === '' ? { prefix: '/' } : { path_separated_prefix: trimmed };
    }
  }
}

function stringMatch(type: 'Exact' | 'RegularExpression', value: string): StringMatcher {
  return type === 'Exact' ? { exact: value } : { safe_regex: { regex: value } };
}

function envoyMatch(match: RouteMatch): EnvoyRouteMatch {
  const out = pathMatch(match);
  const headers: HeaderMatcher[] = (match.headers ?? []).map((h) => ({ name: h.name, string_match: stringMatch(h.type, h.value) }));
  if (match.method) headers.push({ name: ':method', string_match: { exact: match.method } });
  if (headers.length > 0) out.headers = headers;
  if (match.queryParams && match.queryParams.length > 0) {
    out.query_parameters = match.queryParams.map((q) => ({ name: q.name, string_match: stringMatch(q.type, q.value) }));
  }
  return out;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Gateway API URLRewrite → RouteAction rewrite fields, per what the proxy's version honours. */
function applyUrlRewrite(rule: RouteRule, match: RouteMatch, action: RouteAction, profile: EnvoyProfile): void {
  const rewrite = rule.urlRewrite;
  if (!rewrite) return;
  if (rewrite.hostname) action.host_rewrite_literal = rewrite.hostname;
  const path = rewrite.path;
  if (!path) return;
  if (path.type === 'ReplaceFullPath') {
    // path_rewrite (1.37+) takes a substitution format string, so '%' is doubled;
    // older Envoys drop it silently, so they get the equivalent whole-path regex rewrite.
    if (supports(profile, 'route.pathRewrite')) action.path_rewrite = path.value.replace(/%/g, '%%');
    else action.regex_rewrite = { pattern: { regex: '^/.*$' }, substitution: path.value.replace(/\\/g, '\\\\') };
    return;
  }
  const prefix = escapeRegex((match.path?.type === 'PathPrefix' ? match.path.value : '/').replace(/\/+$/, ''));
  const replacement = path.value.replace(/\/+$/, '');
  // Replace the matched segments and keep the rest, without doubling the slash:
  // /v2 → /api turns /v2/x into /api/x; /v2 → / turns /v2/x into /x.
  action.regex_rewrite =
    replacement === ''
      ? { pattern: { regex: `^${prefix}/?(.*)$` }, substitution: '/\\1' }
      : { pattern: { regex: `^${prefix}(/.*)?$` }, substitution: `${replacement}\\1` };
}

function retryPolicy(rule: RouteRule): RetryPolicy | undefined {
  if (!rule.retry && rule.perTryTimeoutMs === undefined) return undefined;
  const policy: RetryPolicy = {};
  if (rule.retry) {
    policy.retry_on = ['connect-failure', 'reset', ...(rule.retry.codes.length > 0 ? ['retriable-status-codes'] : [])].join(',');
    policy.num_retries = rule.retry.attempts;
    if (rule.retry.codes.length > 0) policy.retriable_status_codes = rule.retry.codes;
    if (rule.retry.backoffMs !== undefined) policy.retry_back_off = { base_interval: durationText(rule.retry.backoffMs) };
  } else {
    policy.num_retries = 0;
  }
  if (rule.perTryTimeoutMs !== undefined) policy.per_try_timeout = durationText(rule.perTryTimeoutMs);
  return policy;
}

function headerOptions(modifier: HeaderModifier | undefined): HeaderValueOption[] {
  if (!modifier) return [];
  return [
    ...(modifier.set ?? []).map((h): HeaderValueOption => ({ header: { key: h.name, value: h.value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })),
    ...(modifier.add ?? []).map((h): HeaderValueOption => ({ header: { key: h.name, value: h.value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' })),
  ];
}

function clusterOf(backend: { namespace: string; name: string; port: number } | undefined): string {
  if (!backend) throw new Error('route rule without backends reached the translator');
  return clusterName(backend.namespace, backend.name, backend.port);
}

function envoyRoute(name: string, rule: RouteRule, match: RouteMatch, profile: EnvoyProfile): Route {
  const weighted = rule.backends.filter((b) => b.weight > 0);
  const action: RouteAction =
    weighted.length <= 1
      ? { cluster: clusterOf(weighted[0] ?? rule.backends[0]) }
      : { weighted_clusters: { clusters: weighted.map((b) => ({ name: clusterOf(b), weight: b.weight })) } };
  if (rule.timeoutMs !== undefined) action.timeout = durationText(rule.timeoutMs);
  const retries = retryPolicy(rule);
  if (retries) action.retry_policy = retries;
  applyUrlRewrite(rule, match, action, profile);
  const route: Route = { name, match: envoyMatch(match), route: action };
  const requestAdd = headerOptions(rule.requestHeaders);
  if (requestAdd.length > 0) route.request_headers_to_add = requestAdd;
  if (rule.requestHeaders?.remove?.length) route.request_headers_to_remove = rule.requestHeaders.remove;
  const responseAdd = headerOptions(rule.responseHeaders);
  if (responseAdd.length > 0) route.response_headers_to_add = responseAdd;
  if (rule.responseHeaders?.remove?.length) route.response_headers_to_remove = rule.responseHeaders.remove;
  return route;
}

/** Gateway API precedence: exact path, longer prefix, method, more headers, more query params. */
function precedence(match: RouteMatch): number[] {
  const path = match.path ?? { type: 'PathPrefix', value: '/' };
  return [
    path.type === 'Exact' ? 1 : 0,
    path.type === 'PathPrefix' ? path.value.length : 0,
    match.method ? 1 : 0,
    match.headers?.length ?? 0,
    match.queryParams?.length ?? 0,
  ];
}

function compareDescending(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) {
    const diff = (b[i] ?? 0) - (a[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

function routesFor(service: MeshService, port: ServicePort, routes: readonly MeshRoute[], profile: EnvoyProfile): Route[] {
  const entries: { key: number[]; order: number; route: Route }[] = [];
  let order = 0;
  for (const route of routes) {
    const attached = route.parents.some((p) => p.namespace === service.namespace && p.name === service.name && (p.port === undefined || p.port === port.port));
    if (!attached) continue;
    route.rules.forEach((rule, ruleIndex) => {
      rule.matches.forEach((match, matchIndex) => {
        const name = `${route.namespace}/${route.name}/rule/${ruleIndex}/match/${matchIndex}`;
        entries.push({ key: precedence(match), order: order++, route: envoyRoute(name, rule, match, profile) });
      });
    });
  }
  entries.sort((a, b) => compareDescending(a.key, b.key) || a.order - b.order);
  const defaultRoute: Route = { name: 'default', match: { prefix: '/' }, route: { cluster: clusterName(service.namespace, service.name, port.port) } };
  return [...entries.map((e) => e.route), defaultRoute];
}

/**
 * Routes per parent Service (`namespace/name`), each list in a stable order
 * (namespace/name) so output does not depend on input order. Built once per
 * translation: scanning every route for every service is quadratic at 10k services.
 */
export function routesByParent(model: MeshModel): Map<string, MeshRoute[]> {
  const sorted = [...model.routes].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  const byParent = new Map<string, MeshRoute[]>();
  for (const route of sorted) {
    for (const key of new Set(route.parents.map((p) => serviceKey(p.namespace, p.name)))) {
      const list = byParent.get(key) ?? [];
      list.push(route);
      byParent.set(key, list);
    }
  }
  return byParent;
}

export function httpServicePorts(model: MeshModel): { service: MeshService; port: ServicePort }[] {
  const out: { service: MeshService; port: ServicePort }[] = [];
  for (const key of [...model.services.keys()].sort()) {
    const service = model.services.get(key) as MeshService;
    for (const port of service.ports) if (port.protocol !== 'TCP') out.push({ service, port });
  }
  return out;
}

/** The outbound RouteConfiguration: one virtual host per HTTP service port. */
export function outboundRouteConfiguration(model: MeshModel, outboundPort: number, proxyNamespace: string, profile: EnvoyProfile): RouteConfiguration {
  // Routes attach in a stable order (namespace/name) so output does not depend on input order.
  const byParent = routesByParent(model);
  return {
    name: outboundRouteName(outboundPort),
    virtual_hosts: httpServicePorts(model).map(
      ({ service, port }): VirtualHost => ({
        name: clusterName(service.namespace, service.name, port.port),
        domains: domainsFor(service, port, proxyNamespace),
        routes: routesFor(service, port, byParent.get(serviceKey(service.namespace, service.name)) ?? [], profile),
      }),
    ),
  };
}
