import type { MeshModel, MeshRoute, MeshService, RouteMatch, RouteRule, ServicePort } from '../../model/types.js';
import { clusterName, domainsFor, outboundRouteName } from '../names.js';
import { durationText } from './cluster.js';

type Json = Record<string, unknown>;

function pathMatch(match: RouteMatch): Json {
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

function stringMatch(type: 'Exact' | 'RegularExpression', value: string): Json {
  return type === 'Exact' ? { exact: value } : { safe_regex: { regex: value } };
}

function envoyMatch(match: RouteMatch): Json {
  const out: Json = pathMatch(match);
  const headers = (match.headers ?? []).map((h) => ({ name: h.name, string_match: stringMatch(h.type, h.value) }));
  if (match.method) headers.push({ name: ':method', string_match: { exact: match.method } });
  if (headers.length > 0) out.headers = headers;
  if (match.queryParams && match.queryParams.length > 0) {
    out.query_parameters = match.queryParams.map((q) => ({ name: q.name, string_match: stringMatch(q.type, q.value) }));
  }
  return out;
}

function routeAction(rule: RouteRule): Json {
  const weighted = rule.backends.filter((b) => b.weight > 0);
  const action: Json =
    weighted.length === 1 || (weighted.length === 0 && rule.backends.length > 0)
      ? { cluster: clusterOf(weighted[0] ?? rule.backends[0]) }
      : { weighted_clusters: { clusters: weighted.map((b) => ({ name: clusterOf(b), weight: b.weight })) } };
  if (rule.timeoutMs !== undefined) action.timeout = durationText(rule.timeoutMs);
  return action;
}

function clusterOf(backend: { namespace: string; name: string; port: number } | undefined): string {
  if (!backend) throw new Error('route rule without backends reached the translator');
  return clusterName(backend.namespace, backend.name, backend.port);
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

function routesFor(service: MeshService, port: ServicePort, routes: readonly MeshRoute[]): Json[] {
  const entries: { key: number[]; order: number; route: Json }[] = [];
  let order = 0;
  for (const route of routes) {
    const attached = route.parents.some((p) => p.namespace === service.namespace && p.name === service.name && (p.port === undefined || p.port === port.port));
    if (!attached) continue;
    route.rules.forEach((rule, ruleIndex) => {
      rule.matches.forEach((match, matchIndex) => {
        entries.push({
          key: precedence(match),
          order: order++,
          route: { name: `${route.namespace}/${route.name}/rule/${ruleIndex}/match/${matchIndex}`, match: envoyMatch(match), route: routeAction(rule) },
        });
      });
    });
  }
  entries.sort((a, b) => compareDescending(a.key, b.key) || a.order - b.order);
  const defaultRoute = { name: 'default', match: { prefix: '/' }, route: { cluster: clusterName(service.namespace, service.name, port.port) } };
  return [...entries.map((e) => e.route), defaultRoute];
}

/** Routes are attached in a stable order (namespace/name) so output does not depend on input order. */
function sortedRoutes(model: MeshModel): MeshRoute[] {
  return [...model.routes].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

export function httpServicePorts(model: MeshModel): { service: MeshService; port: ServicePort }[] {
  const out: { service: MeshService; port: ServicePort }[] = [];
  const keys = [...model.services.keys()].sort();
  for (const key of keys) {
    const service = model.services.get(key) as MeshService;
    for (const port of service.ports) if (port.protocol !== 'TCP') out.push({ service, port });
  }
  return out;
}

/** The outbound RouteConfiguration: one virtual host per HTTP service port. */
export function outboundRouteConfiguration(model: MeshModel, outboundPort: number, proxyNamespace: string): Json {
  const routes = sortedRoutes(model);
  return {
    name: outboundRouteName(outboundPort),
    virtual_hosts: httpServicePorts(model).map(({ service, port }) => ({
      name: clusterName(service.namespace, service.name, port.port),
      domains: domainsFor(service, port, proxyNamespace),
      routes: routesFor(service, port, routes),
    })),
  };
}
