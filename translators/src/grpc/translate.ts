/**
 * IR → xDS for proxyless gRPC clients (gRFC A27/A28). A client dialing
 * `xds:///NAME.NAMESPACE:PORT` asks LDS for exactly that name, so every HTTP2/GRPC
 * service port gets an API listener and a route configuration under each name it
 * can be dialed by. Features gRPC does not implement are left out and reported as
 * degraded, never sent.
 */
import type { Cluster, ClusterLoadAssignment, HttpConnectionManager, Listener, Packed, Route, RouteAction, RouteConfiguration } from '@meshcp/xds-protos';
import { durationText } from '../envoy/cluster.js';
import { loadAssignment } from '../envoy/endpoints.js';
import { clusterName } from '../envoy/names.js';
import { serviceOfCluster } from '../envoy/translate.js';
import { sortedServices } from '../model/services.js';
import type { MeshModel, MeshRoute, MeshService, RouteRule, ServicePort } from '../model/types.js';
import type { ProxyInfo } from '../proxy.js';
import { routesByParent, routesForCaller } from '../routing.js';
import { HTTP_CONNECTION_MANAGER, ROUTER_FILTER } from '../type-urls.js';
import { GRPC_DEFECTS, type GrpcFeature, type GrpcProfile, grpcMissingReason, grpcSupports } from './capabilities.js';
import { grpcServerListeners, secureGrpcCluster, withoutClusters } from './security.js';

const supports = (profile: GrpcProfile, feature: GrpcFeature) => grpcSupports(profile, feature);

export interface GrpcConfig {
  listeners: Listener[];
  routes: RouteConfiguration[];
  clusters: Cluster[];
  /** What the model asks for that these clients cannot do, per object. */
  degraded: string[];
}

/**
 * A rule whose backends all weigh 0 must fail its requests (Gateway API: 500; Envoy
 * gets a direct response). gRFC A28 says a route whose action is not `route` fails
 * matching RPCs UNAVAILABLE, but @grpc/grpc-js-xds NACKs a route configuration with
 * a `direct_response` (measured, 1.14.1), which would keep the previous routes
 * serving. So clients with the fault filter (gRFC A33, every current release) get
 * a route whose per-route fault override aborts every matching RPC with
 * UNAVAILABLE on the client, before any backend is picked; older ones get A28's
 * direct_response.
 */
const FAULT_FILTER = 'envoy.filters.http.fault';
const FAULT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
/** In the listener: no abort of its own, so it changes nothing until a route overrides it. */
const FAULT_PASSIVE: Packed<HTTPFault> = { '@type': FAULT_TYPE };
const GRPC_UNAVAILABLE = 14;
/** The part of envoy.extensions.filters.http.fault.v3.HTTPFault sent here (xds-protos types only what it builds). */
interface HTTPFault {
  abort?: { grpc_status: number; percentage: { numerator: number; denominator: 'HUNDRED' } };
}
const ABORT_EVERY_RPC: Packed<HTTPFault> = {
  '@type': FAULT_TYPE,
  abort: { grpc_status: GRPC_UNAVAILABLE, percentage: { numerator: 100, denominator: 'HUNDRED' } },
};

/** The names a service port can be dialed by: `xds:///name.ns:port` and its FQDN form. */
export function grpcTargets(service: MeshService, port: ServicePort): string[] {
  return [`${service.name}.${service.namespace}:${port.port}`, `${service.name}.${service.namespace}.svc.cluster.local:${port.port}`];
}

/** Whether any route of the configuration aborts through the fault filter (the listener must then carry it). */
function needsFaultFilter(routes: RouteConfiguration): boolean {
  return (routes.virtual_hosts ?? []).some((host) => (host.routes ?? []).some((route) => route.typed_per_filter_config?.[FAULT_FILTER] !== undefined));
}

function apiListener(target: string, withFaultFilter: boolean): Listener {
  const hcm: Packed<HttpConnectionManager> = {
    '@type': HTTP_CONNECTION_MANAGER,
    stat_prefix: target,
    rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: target },
    http_filters: [...(withFaultFilter ? [{ name: FAULT_FILTER, typed_config: FAULT_PASSIVE }] : []), ROUTER_FILTER],
  };
  return { name: target, api_listener: { api_listener: hcm } };
}

function grpcRoute(name: string, rule: RouteRule, profile: GrpcProfile, degrade: (what: string) => void): Route[] {
  if (rule.redirect) {
    // gRPC has no redirect; A28 clients fail or NACK other actions, so the rule is left out.
    degrade(`${name}: RequestRedirect (not implemented by proxyless gRPC; the rule is not served: its RPCs go to the next matching rule, or fail UNAVAILABLE)`);
    return [];
  }
  const weighted = rule.backends.filter((b) => b.weight > 0);
  const noBackendTakesTraffic = weighted.length === 0 && rule.backends.length > 0;
  const action: RouteAction = {};
  const cold = GRPC_DEFECTS.find((d) => d.id === 'route.coldClusterSwitch' && profile.defects.has(d.id));
  if (cold && rule.backends.length > 1)
    degrade(`${name}: backendRefs (${cold.implementation} ${cold.effect}${cold.fixedBy ? `; fixed by ${cold.fixedBy}` : ''})`);
  if (weighted.length > 1) {
    if (!supports(profile, 'route.weightedClusters')) {
      degrade(`${name}: backendRefs weights, all traffic goes to the first backend (${grpcMissingReason(profile, 'route.weightedClusters')})`);
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
    else degrade(`${name}: timeouts.request (${grpcMissingReason(profile, 'route.maxStreamDuration')})`);
  }
  if (rule.retry) {
    // gRPC retries on status codes, not HTTP ones: UNAVAILABLE is what 502/503/connect failures become.
    if (supports(profile, 'route.retryPolicy')) action.retry_policy = { retry_on: 'unavailable', num_retries: rule.retry.attempts };
    else degrade(`${name}: retry (${grpcMissingReason(profile, 'route.retryPolicy')})`);
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
    if (!noBackendTakesTraffic) routes.push({ name: `${name}/match/${i}`, match: routeMatch, route: action });
    else if (supports(profile, 'filter.faultInjection'))
      routes.push({ name: `${name}/match/${i}`, match: routeMatch, route: action, typed_per_filter_config: { [FAULT_FILTER]: ABORT_EVERY_RPC } });
    else routes.push({ name: `${name}/match/${i}`, match: routeMatch, direct_response: { status: 500 } });
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
  // An unsupported lb_policy value is NACKed (with every other cluster in the response): never sent.
  if (service.loadBalancing === 'RingHash' && supports(profile, 'cluster.ringHash')) cluster.lb_policy = 'RING_HASH';
  else if (service.loadBalancing !== 'RoundRobin')
    degrade(
      `${name}: loadBalancing ${service.loadBalancing}, round robin used (${
        service.loadBalancing === 'RingHash'
          ? grpcMissingReason(profile, 'cluster.ringHash')
          : service.loadBalancing === 'LeastRequest'
            ? 'only grpc-java implements least request (gRFC A48); meshcp does not send it'
            : 'no gRPC xDS client implements it'
      })`,
    );
  if (service.outlierDetection) {
    // gRFC A50 implements success-rate and failure-percentage ejection only: the
    // model's consecutive-errors rule has no gRPC equivalent, so it is not sent.
    degrade(
      supports(profile, 'cluster.outlierDetection')
        ? `${name}: outlierDetection.consecutive5xx (gRPC ejects by success rate or failure percentage only, gRFC A50)`
        : `${name}: outlierDetection (${grpcMissingReason(profile, 'cluster.outlierDetection')})`,
    );
  }
  if (service.circuitBreakers?.maxRequests !== undefined) {
    if (supports(profile, 'cluster.circuitBreakers'))
      cluster.circuit_breakers = { thresholds: [{ priority: 'DEFAULT', max_requests: service.circuitBreakers.maxRequests }] };
    else degrade(`${name}: circuitBreakers.maxRequests (${grpcMissingReason(profile, 'cluster.circuitBreakers')})`);
  }
  const otherLimits = Object.entries(service.circuitBreakers ?? {}).filter(([key, value]) => key !== 'maxRequests' && value !== undefined);
  if (otherLimits.length > 0) degrade(`${name}: circuitBreakers.${otherLimits.map(([key]) => key).join(', ')} (gRPC honours max_requests only, gRFC A32)`);
  if (service.failover.overprovisioningFactor !== undefined)
    degrade(`${name}: failover.overprovisioningFactor (gRPC fails over only when a priority has no reachable endpoint)`);
  if (service.healthCheck) degrade(`${name}: active health checks (gRPC clients rely on endpoint health from EDS)`);
  return cluster;
}

/**
 * LDS/RDS/CDS for proxyless gRPC clients in `callerNamespace`: routes follow the
 * mesh's namespace rules (GEP-1294, `routing.ts`), so the namespace is part of the variant.
 */
export function translateGrpcConfig(
  model: MeshModel,
  profile: GrpcProfile,
  callerNamespace = 'default',
  /** The workload's own service (`namespace/name`): a server of it on the wildcard address gets its Listener. */
  ownService?: string,
): GrpcConfig {
  const degraded = new Set<string>();
  const degrade = (what: string) => degraded.add(what);
  const listeners: Listener[] = [];
  const routes: RouteConfiguration[] = [];
  const clusters: Cluster[] = [];
  const byParent = routesByParent(model);
  // Mesh mTLS (security.ts): clusters this client must not be sent, and routes to them.
  const leftOut = new Set<string>();
  for (const service of sortedServices(model)) {
    for (const port of service.ports) {
      if (port.protocol === 'TCP') continue;
      const cluster = grpcCluster(service, port, profile, degrade);
      if (secureGrpcCluster(cluster, service, profile, degrade)) clusters.push(cluster);
      else leftOut.add(cluster.name as string);
      for (const target of grpcTargets(service, port)) {
        const routeConfig = routeConfiguration(target, service, port, routesForCaller(byParent, service, callerNamespace), profile, degrade);
        listeners.push(apiListener(target, needsFaultFilter(routeConfig)));
        routes.push(routeConfig);
      }
    }
  }
  listeners.push(...grpcServerListeners(model, profile, degrade, ownService));
  const servedRoutes = routes.map((config) => withoutClusters(config, leftOut, degrade));
  return { listeners, routes: servedRoutes, clusters, degraded: [...degraded].sort() };
}

/**
 * The ClusterLoadAssignment of one cluster for a gRPC client at `locality`. Every
 * locality carries a load_balancing_weight, for every gRPC client kind (a
 * requirement, GRPC_REQUIREMENTS 'eds.localityWeights'): without one gRPC drops it.
 */
export function translateGrpcEndpoints(model: MeshModel, cluster: string, locality: ProxyInfo['locality']): ClusterLoadAssignment | undefined {
  const target = serviceOfCluster(model, cluster);
  if (!target || target.port.protocol === 'TCP') return undefined;
  // Envoy-only endpoint features (observability names) are never sent to gRPC: no decorations.
  return loadAssignment(target.service, target.port, locality, { alwaysWeighLocalities: true, alwaysNameLocalities: true });
}

// 0 and 1 are UNKNOWN and HEALTHY as enum numbers.
const USABLE_HEALTH = new Set<unknown>([undefined, 'UNKNOWN', 'HEALTHY', 0, 1]);

/**
 * How many endpoints of a ClusterLoadAssignment a gRPC client will use (gRFC A27):
 * only those in a locality with a non-zero load_balancing_weight and with health
 * UNKNOWN or HEALTHY. Zero means RPCs to the cluster fail UNAVAILABLE although the
 * client ACKed the resource. Reads what is actually sent, so it also catches a
 * regression after translation.
 */
export function grpcUsableEndpoints(cla: ClusterLoadAssignment): number {
  let usable = 0;
  for (const locality of cla.endpoints ?? []) {
    if (!locality.load_balancing_weight) continue;
    for (const endpoint of locality.lb_endpoints ?? []) if (USABLE_HEALTH.has(endpoint.health_status)) usable++;
  }
  return usable;
}

/**
 * What a gRPC client with this profile will not do of what the model asks, one
 * entry per object and field, plus every cluster it would resolve to no endpoint
 * (which must never pass for healthy). Pure, like `envoyDegraded`.
 */
export function grpcDegraded(
  model: MeshModel,
  profile: GrpcProfile,
  callerNamespace = 'default',
  /** What translating already found (saves translating twice). */
  translated: readonly string[] = translateGrpcConfig(model, profile, callerNamespace).degraded,
): string[] {
  const degraded = new Set(translated);
  // No gRPC language takes tracing over xDS: its OpenTelemetry tracing (gRFC A72) is set up
  // in the application's code, and the listener's HCM tracing config is not read.
  if (model.settings?.tracing)
    degraded.add(
      'MeshConfig spec.tracing: proxyless gRPC takes no tracing configuration over xDS (its OpenTelemetry tracing, gRFC A72, is configured in the application); this client reports no spans unless its code does',
    );
  for (const service of sortedServices(model)) {
    for (const port of service.ports) {
      if (port.protocol === 'TCP') continue;
      // gRFC A27: round robin inside a locality; endpoint weights only add up to the locality's weight.
      const byLocality = new Map<string, Set<number>>();
      for (const e of service.endpoints) {
        const key = `${e.locality.region ?? ''}/${e.locality.zone ?? ''}/${e.locality.subZone ?? ''}`;
        byLocality.set(key, (byLocality.get(key) ?? new Set()).add(e.weight ?? 1));
      }
      if ([...byLocality.values()].some((weights) => weights.size > 1))
        degraded.add(
          `${clusterName(service.namespace, service.name, port.port)}: endpoints[].weight within a locality (gRPC picks round robin inside a locality, gRFC A27; the weights only weigh localities)`,
        );
      const healthy = service.endpoints.filter((e) => e.health === 'Healthy').length;
      if (healthy === 0)
        degraded.add(
          `${clusterName(service.namespace, service.name, port.port)}: no usable endpoints (${service.endpoints.length} listed, none healthy): RPCs fail UNAVAILABLE`,
        );
    }
  }
  return [...degraded].sort();
}
