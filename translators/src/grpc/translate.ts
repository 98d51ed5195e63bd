/**
 * IR → xDS for proxyless gRPC clients (gRFC A27/A28). A client dialing
 * `xds:///NAME.NAMESPACE:PORT` asks LDS for exactly that name, so every HTTP2/GRPC
 * service port gets an API listener and a route configuration under each name it
 * can be dialed by. Features gRPC does not implement are left out and reported as
 * degraded, never sent.
 */
import type { Cluster, HttpConnectionManager, Listener, Packed, Route, RouteAction, RouteConfiguration, Router } from '@meshcp/xds-protos';
import { supports } from '../envoy/capabilities.js';
import { durationText } from '../envoy/cluster.js';
import { clusterName } from '../envoy/names.js';
import { routesByParent } from '../envoy/routes.js';
import { type MeshModel, type MeshRoute, type MeshService, type RouteRule, type ServicePort, serviceKey } from '../model/types.js';
import type { GrpcProfile } from './capabilities.js';

export interface GrpcConfig {
  listeners: Listener[];
  routes: RouteConfiguration[];
  clusters: Cluster[];
  /** What the model asks for that these clients cannot do, per object. */
  degraded: string[];
}

const ROUTER: Packed<Router> = { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' };

/** The names a service port can be dialed by: `xds:///name.ns:port` and its FQDN form. */
export function grpcTargets(service: MeshService, port: ServicePort): string[] {
  return [`${service.name}.${service.namespace}:${port.port}`, `${service.name}.${service.namespace}.svc.cluster.local:${port.port}`];
}

function apiListener(target: string): Listener {
  const hcm: Packed<HttpConnectionManager> = {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: target,
    rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: target },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: ROUTER }],
  };
  return { name: target, api_listener: { api_listener: hcm } };
}

function grpcRoute(name: string, rule: RouteRule, profile: GrpcProfile, degrade: (what: string) => void): Route[] {
  const weighted = rule.backends.filter((b) => b.weight > 0);
  const action: RouteAction = {};
  if (weighted.length > 1) {
    if (!supports(profile, 'route.weightedClusters')) {
      degrade(`${name}: weighted backends (sending all traffic to the first)`);
      action.cluster = clusterName(weighted[0]?.namespace ?? '', weighted[0]?.name ?? '', weighted[0]?.port ?? 0);
    } else {
      action.weighted_clusters = { clusters: weighted.map((b) => ({ name: clusterName(b.namespace, b.name, b.port), weight: b.weight })) };
    }
  } else {
    const backend = weighted[0] ?? rule.backends[0];
    action.cluster = clusterName(backend?.namespace ?? '', backend?.name ?? '', backend?.port ?? 0);
  }
  if (rule.timeoutMs !== undefined) {
    if (supports(profile, 'route.maxStreamDuration')) action.max_stream_duration = { max_stream_duration: durationText(rule.timeoutMs) };
    else degrade(`${name}: request timeout`);
  }
  if (rule.retry) {
    // gRPC retries on status codes, not HTTP ones: UNAVAILABLE is what 502/503/connect failures become.
    if (supports(profile, 'route.retryPolicy')) action.retry_policy = { retry_on: 'unavailable', num_retries: rule.retry.attempts };
    else degrade(`${name}: retries`);
  }
  if (rule.requestHeaders || rule.responseHeaders) degrade(`${name}: header modifiers (not implemented by proxyless gRPC)`);
  if (rule.urlRewrite) degrade(`${name}: URL rewrite (not implemented by proxyless gRPC)`);
  const routes: Route[] = [];
  rule.matches.forEach((match, i) => {
    // gRPC requests have no method or query string: such a match would match more than
    // the user asked for, so it is left out rather than broadened.
    if (match.method || match.queryParams?.length) {
      degrade(`${name}/match/${i}: method and query matches (gRPC has neither; this match is not served)`);
      return;
    }
    const path = match.path ?? { type: 'PathPrefix', value: '/' };
    const routeMatch: Route['match'] =
      path.type === 'Exact'
        ? { path: path.value }
        : path.type === 'RegularExpression'
          ? { safe_regex: { regex: path.value } }
          : { prefix: path.value === '/' ? '' : path.value };
    if (match.headers?.length)
      routeMatch.headers = match.headers.map((h) => ({
        name: h.name,
        string_match: h.type === 'Exact' ? { exact: h.value } : { safe_regex: { regex: h.value } },
      }));
    routes.push({ name: `${name}/match/${i}`, match: routeMatch, route: action });
  });
  return routes;
}

function routeConfiguration(
  target: string,
  service: MeshService,
  port: ServicePort,
  routes: readonly MeshRoute[],
  profile: GrpcProfile,
  degrade: (what: string) => void,
): RouteConfiguration {
  const entries: Route[] = [];
  for (const route of routes) {
    if (!route.parents.some((p) => p.namespace === service.namespace && p.name === service.name && (p.port === undefined || p.port === port.port))) continue;
    route.rules.forEach((rule, i) => {
      entries.push(...grpcRoute(`${route.namespace}/${route.name}/rule/${i}`, rule, profile, degrade));
    });
  }
  entries.push({ name: 'default', match: { prefix: '' }, route: { cluster: clusterName(service.namespace, service.name, port.port) } });
  return { name: target, virtual_hosts: [{ name: target, domains: [target], routes: entries }] };
}

function grpcCluster(service: MeshService, port: ServicePort, profile: GrpcProfile, degrade: (what: string) => void): Cluster {
  const name = clusterName(service.namespace, service.name, port.port);
  const cluster: Cluster = { name, type: 'EDS', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } }, lb_policy: 'ROUND_ROBIN' };
  if (service.loadBalancing === 'RingHash' && supports(profile, 'cluster.ringHash')) cluster.lb_policy = 'RING_HASH';
  else if (service.loadBalancing !== 'RoundRobin') degrade(`${name}: ${service.loadBalancing} load balancing (round robin used)`);
  if (service.outlierDetection) {
    if (supports(profile, 'cluster.outlierDetection')) {
      const od = service.outlierDetection;
      cluster.outlier_detection = {
        consecutive_5xx: od.consecutive5xx,
        interval: durationText(od.intervalMs),
        base_ejection_time: durationText(od.baseEjectionTimeMs),
        max_ejection_percent: od.maxEjectionPercent,
      };
    } else degrade(`${name}: outlier detection`);
  }
  if (service.circuitBreakers?.maxRequests !== undefined && supports(profile, 'cluster.circuitBreakers')) {
    cluster.circuit_breakers = { thresholds: [{ priority: 'DEFAULT', max_requests: service.circuitBreakers.maxRequests }] };
  }
  if (service.healthCheck) degrade(`${name}: active health checks (gRPC clients rely on endpoint health from EDS)`);
  return cluster;
}

export function translateGrpcConfig(model: MeshModel, profile: GrpcProfile): GrpcConfig {
  const degraded = new Set<string>();
  const degrade = (what: string) => degraded.add(what);
  const listeners: Listener[] = [];
  const routes: RouteConfiguration[] = [];
  const clusters: Cluster[] = [];
  const byParent = routesByParent(model);
  for (const key of [...model.services.keys()].sort()) {
    const service = model.services.get(key) as MeshService;
    for (const port of service.ports) {
      if (port.protocol === 'TCP') continue;
      clusters.push(grpcCluster(service, port, profile, degrade));
      for (const target of grpcTargets(service, port)) {
        listeners.push(apiListener(target));
        routes.push(routeConfiguration(target, service, port, byParent.get(serviceKey(service.namespace, service.name)) ?? [], profile, degrade));
      }
    }
  }
  return { listeners, routes, clusters, degraded: [...degraded].sort() };
}
