/**
 * IR → Envoy xDS. Pure: the output depends only on the model, the proxy's scope
 * and its profile, which is what lets the cache share it between proxies and lets
 * golden tests pin it. The core here builds the outbound HTTP listener, its route
 * configuration and one cluster per service port; everything else is a registered
 * feature (`features/index.ts`) called at each place it touches.
 */
import type { Cluster, ClusterLoadAssignment, HttpFilter, Listener, RouteConfiguration } from '@meshcp/xds-protos';
import { sortedServices } from '../model/services.js';
import type { MeshModel, MeshService, ServicePort } from '../model/types.js';
import { serviceKey } from '../model/types.js';
import type { ProxyInfo } from '../proxy.js';
import type { EnvoyProfile } from './capabilities.js';
import { baseCluster, needsDns, setDiscovery } from './cluster.js';
import { type EndpointOptions, loadAssignment } from './endpoints.js';
import type { EnvoyConfigScope, EnvoyContext, EnvoyFeature, TrafficDirection } from './feature.js';
import { ENVOY_FEATURES } from './features/index.js';
import { outboundHttpListener } from './listener.js';
import { clusterName, parseClusterName } from './names.js';
import { outboundRouteConfiguration } from './routes.js';

export type { EnvoyConfigScope } from './feature.js';

export interface EnvoyConfig {
  listeners: Listener[];
  routes: RouteConfiguration[];
  clusters: Cluster[];
}

/** The key of the variant a scope reads: proxies with equal keys get identical config. */
export function envoyConfigScopeKey(scope: EnvoyConfigScope): string {
  // The proxy's own service is always part of the key: its spans are named for it (tracing).
  const inbound = scope.inboundPort ? `|in:${scope.inboundPort}>${scope.appPort ?? ''}` : '';
  const capture = scope.capturePort ? `|cap:${scope.capturePort}` : '';
  return `${scope.outboundAddress}:${scope.outboundPort}|${scope.namespace}/${scope.service}|tcp+${scope.tcpPortOffset}${inbound}${capture}`;
}

function envoyContext(model: MeshModel, scope: EnvoyConfigScope, profile: EnvoyProfile, features: readonly EnvoyFeature[]): EnvoyContext {
  const filters = new Map<TrafficDirection, HttpFilter[]>();
  const context: EnvoyContext = {
    model,
    scope,
    profile,
    httpFilters(direction) {
      let list = filters.get(direction);
      if (!list) {
        list = features.flatMap((feature) => feature.httpFilters?.(context, direction) ?? []);
        filters.set(direction, list);
      }
      return list;
    },
  };
  return context;
}

export function translateEnvoyConfig(
  model: MeshModel,
  scope: EnvoyConfigScope,
  profile: EnvoyProfile,
  features: readonly EnvoyFeature[] = ENVOY_FEATURES,
): EnvoyConfig {
  const ctx = envoyContext(model, scope, profile, features);
  const endpointOptions = envoyEndpointOptions(profile, features);
  const listeners: Listener[] = [outboundHttpListener(scope.outboundAddress, scope.outboundPort, ctx.httpFilters('outbound'))];
  const routes: RouteConfiguration[] = [outboundRouteConfiguration(ctx, features)];
  const clusters: Cluster[] = [];
  for (const service of sortedServices(model)) {
    for (const port of service.ports) {
      const cluster = baseCluster(service, port);
      for (const feature of features) feature.cluster?.(cluster, service, port, ctx);
      setDiscovery(cluster, service, port, ctx, endpointOptions);
      clusters.push(cluster);
    }
  }
  for (const feature of features) {
    const added = feature.resources?.(ctx);
    if (!added) continue;
    listeners.push(...(added.listeners ?? []));
    routes.push(...(added.routes ?? []));
    clusters.push(...(added.clusters ?? []));
  }
  for (const feature of features) if (feature.listener) for (const listener of listeners) feature.listener(listener, ctx);
  return { listeners, routes, clusters };
}

/** The options are a function of (profile, features) only: made once per pair (per CLA they were a closure and a filter). */
const endpointOptionsMemo = new WeakMap<EnvoyProfile, WeakMap<readonly EnvoyFeature[], EndpointOptions>>();

/** How an Envoy of this profile gets its endpoints: each registered feature's endpoint hook. */
export function envoyEndpointOptions(profile: EnvoyProfile, features: readonly EnvoyFeature[] = ENVOY_FEATURES): EndpointOptions {
  let byFeatures = endpointOptionsMemo.get(profile);
  if (!byFeatures) {
    byFeatures = new WeakMap();
    endpointOptionsMemo.set(profile, byFeatures);
  }
  let options = byFeatures.get(features);
  if (!options) {
    options = makeEndpointOptions(profile, features);
    byFeatures.set(features, options);
  }
  return options;
}

function makeEndpointOptions(profile: EnvoyProfile, features: readonly EnvoyFeature[]): EndpointOptions {
  const hooks = features.filter((feature) => feature.endpoint);
  return {
    alwaysWeighLocalities: false,
    alwaysNameLocalities: false,
    decorate: (lbEndpoint, endpoint) => {
      for (const feature of hooks) feature.endpoint?.(lbEndpoint, endpoint, profile);
    },
  };
}

export function serviceOfCluster(model: MeshModel, cluster: string): { service: MeshService; port: ServicePort } | undefined {
  const parsed = parseClusterName(cluster);
  if (!parsed) return undefined;
  const service = model.services.get(serviceKey(parsed.namespace, parsed.name));
  const port = service?.ports.find((p) => p.port === parsed.port);
  return service && port ? { service, port } : undefined;
}

/** Clusters whose endpoints come over EDS (DNS clusters carry theirs inline). */
export function edsClusterNames(model: MeshModel): string[] {
  const names: string[] = [];
  for (const service of sortedServices(model)) names.push(...edsClustersOf(service));
  return names;
}

// Per service object (a model's services are never mutated: a change is a new object), so a
// change re-derives only the changed service's names, not a regex over every endpoint of the mesh.
const edsClustersByService = new WeakMap<MeshService, readonly string[]>();
function edsClustersOf(service: MeshService): readonly string[] {
  let names = edsClustersByService.get(service);
  if (!names) {
    names = needsDns(service) ? [] : service.ports.map((port) => clusterName(service.namespace, service.name, port.port));
    edsClustersByService.set(service, names);
  }
  return names;
}

/** The ClusterLoadAssignment of one EDS cluster for a proxy at `locality`, or undefined if none. */
export function translateEnvoyEndpoints(
  model: MeshModel,
  cluster: string,
  locality: ProxyInfo['locality'],
  profile: EnvoyProfile,
  features: readonly EnvoyFeature[] = ENVOY_FEATURES,
): ClusterLoadAssignment | undefined {
  const target = serviceOfCluster(model, cluster);
  if (!target || needsDns(target.service)) return undefined;
  return loadAssignment(target.service, target.port, locality, envoyEndpointOptions(profile, features));
}

/**
 * What the model asks for that this proxy's version cannot be given in any form
 * (features with an older equivalent are translated, not listed).
 */
export function envoyDegraded(model: MeshModel, profile: EnvoyProfile, features: readonly EnvoyFeature[] = ENVOY_FEATURES): string[] {
  return features.flatMap((feature) => feature.degraded?.({ model, profile }) ?? []);
}

/** Everything one Envoy proxy gets: LDS/RDS/CDS plus the CLA of every EDS cluster it references. */
export interface EnvoyResources extends EnvoyConfig {
  endpoints: ClusterLoadAssignment[];
}

export function translateEnvoy(model: MeshModel, proxy: ProxyInfo, profile: EnvoyProfile): EnvoyResources {
  const config = translateEnvoyConfig(model, proxy, profile);
  const endpoints = edsClusterNames(model)
    .map((name) => translateEnvoyEndpoints(model, name, proxy.locality, profile))
    .filter((cla): cla is ClusterLoadAssignment => cla !== undefined);
  return { ...config, endpoints };
}
