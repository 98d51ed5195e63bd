import type {
  RouteMatch as EnvoyRouteMatch,
  HeaderMatcher,
  RedirectAction,
  Route,
  RouteAction,
  RouteConfiguration,
  StringMatcher,
  VirtualHost,
} from '@meshcp/xds-protos';
import { sortedServices } from '../model/services.js';
import type { MeshModel, MeshRoute, MeshService, RequestRedirect, RouteMatch, RouteRule, ServicePort } from '../model/types.js';
import { routesByParent, routesForCaller } from '../routing.js';
import type { EnvoyContext, EnvoyFeature } from './feature.js';
import { prefixReplacement } from './features/url-rewrite.js';
import { clusterName, domainsFor, outboundRouteName } from './names.js';

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

function clusterOf(backend: { namespace: string; name: string; port: number } | undefined): string {
  if (!backend) throw new Error('route rule without backends reached the translator');
  return clusterName(backend.namespace, backend.name, backend.port);
}

const REDIRECT_CODES = { 301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT' } as const;

/** Gateway API RequestRedirect → Envoy's RedirectAction (the prefix form replaces what the rule's prefix matched). */
function envoyRedirect(redirect: RequestRedirect, match: RouteMatch): RedirectAction {
  const action: RedirectAction = { response_code: REDIRECT_CODES[redirect.statusCode] };
  if (redirect.scheme) action.scheme_redirect = redirect.scheme;
  if (redirect.hostname) action.host_redirect = redirect.hostname;
  if (redirect.port) action.port_redirect = redirect.port;
  if (redirect.path?.type === 'ReplaceFullPath') action.path_redirect = redirect.path.value;
  else if (redirect.path) action.regex_rewrite = prefixReplacement(match, redirect.path.value);
  return action;
}

/**
 * The route of one match of a rule: forwards to its weighted backends, or answers
 * 500 when every backend weighs 0 (Gateway API: a rule with no backend that can
 * take traffic answers 500 rather than picking one anyway).
 */
function envoyRoute(name: string, rule: RouteRule, match: RouteMatch, ctx: EnvoyContext, features: readonly EnvoyFeature[]): Route {
  const weighted = rule.backends.filter((b) => b.weight > 0);
  let action: RouteAction | undefined;
  const route: Route = { name, match: envoyMatch(match) };
  if (rule.redirect) {
    route.redirect = envoyRedirect(rule.redirect, match);
  } else if (weighted.length === 0 && rule.backends.length > 0) {
    route.direct_response = { status: 500 };
  } else {
    action =
      weighted.length <= 1
        ? { cluster: clusterOf(weighted[0] ?? rule.backends[0]) }
        : { weighted_clusters: { clusters: weighted.map((b) => ({ name: clusterOf(b), weight: b.weight })) } };
    route.route = action;
  }
  for (const feature of features) feature.route?.(route, action, rule, match, ctx);
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

function routesFor(service: MeshService, port: ServicePort, routes: readonly MeshRoute[], ctx: EnvoyContext, features: readonly EnvoyFeature[]): Route[] {
  const entries: { key: number[]; order: number; route: Route }[] = [];
  let order = 0;
  for (const route of routes) {
    const attached = route.parents.some((p) => p.namespace === service.namespace && p.name === service.name && (p.port === undefined || p.port === port.port));
    if (!attached) continue;
    route.rules.forEach((rule, ruleIndex) => {
      rule.matches.forEach((match, matchIndex) => {
        const name = `${route.namespace}/${route.name}/rule/${ruleIndex}/match/${matchIndex}`;
        entries.push({ key: precedence(match), order: order++, route: envoyRoute(name, rule, match, ctx, features) });
      });
    });
  }
  entries.sort((a, b) => compareDescending(a.key, b.key) || a.order - b.order);
  // What no route matches goes to the service itself: a rule like any other, so features see it too.
  const match: RouteMatch = {};
  const defaultRule: RouteRule = { matches: [match], backends: [{ namespace: service.namespace, name: service.name, port: port.port, weight: 1 }] };
  return [...entries.map((e) => e.route), envoyRoute('default', defaultRule, match, ctx, features)];
}

export { routesByParent } from '../routing.js';

export function httpServicePorts(model: MeshModel): { service: MeshService; port: ServicePort }[] {
  const out: { service: MeshService; port: ServicePort }[] = [];
  for (const service of sortedServices(model)) {
    for (const port of service.ports) if (port.protocol !== 'TCP') out.push({ service, port });
  }
  return out;
}

/** The outbound RouteConfiguration: one virtual host per HTTP service port. */
export function outboundRouteConfiguration(ctx: EnvoyContext, features: readonly EnvoyFeature[]): RouteConfiguration {
  // Routes attach in a stable order (namespace/name) so output does not depend on input order.
  const byParent = routesByParent(ctx.model);
  return {
    name: outboundRouteName(ctx.scope.outboundPort),
    virtual_hosts: httpServicePorts(ctx.model).map(
      ({ service, port }): VirtualHost => ({
        name: clusterName(service.namespace, service.name, port.port),
        domains: domainsFor(service, port, ctx.scope.namespace),
        routes: routesFor(service, port, routesForCaller(byParent, service, ctx.scope.namespace), ctx, features),
      }),
    ),
  };
}
