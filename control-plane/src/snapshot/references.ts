/**
 * What one xDS resource names in other resources of the same snapshot: a listener
 * names route configurations (RDS) and clusters (TCP proxy, inline routes), a route
 * configuration names clusters. The set check uses this to refuse publishing a
 * resource whose references would dangle.
 */
type AnyJson = object;

export interface References {
  routes: string[];
  clusters: string[];
  /** ClusterLoadAssignments (EDS) a cluster reads its endpoints from. */
  endpoints: string[];
}

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

type Json = Record<string, unknown>;

function objects(value: unknown): Json[] {
  return Array.isArray(value) ? value.filter((v): v is Json => typeof v === 'object' && v !== null) : [];
}

function object(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

/** Clusters a RouteAction or TcpProxy forwards to: `cluster` or each of `weighted_clusters.clusters`. */
function forwardTargets(action: Json | undefined, into: string[]): void {
  if (!action) return;
  if (typeof action.cluster === 'string') into.push(action.cluster);
  for (const weighted of objects(object(action.weighted_clusters)?.clusters)) if (typeof weighted.name === 'string') into.push(weighted.name);
}

/** Clusters named by the routes of a RouteConfiguration. */
function routeConfigurationClusters(config: Json | undefined, into: string[]): void {
  for (const host of objects(config?.virtual_hosts)) for (const route of objects(host.routes)) forwardTargets(object(route.route), into);
}

function networkFilterReferences(typedConfig: Json | undefined, refs: References): void {
  if (!typedConfig) return;
  if (typedConfig['@type'] === HCM) {
    const rdsName = object(typedConfig.rds)?.route_config_name;
    if (typeof rdsName === 'string') refs.routes.push(rdsName);
    routeConfigurationClusters(object(typedConfig.route_config), refs.clusters);
  } else if (typedConfig['@type'] === TCP_PROXY) {
    forwardTargets(typedConfig, refs.clusters);
  }
}

export function listenerReferences(listener: AnyJson): References {
  const refs: References = { routes: [], clusters: [], endpoints: [] };
  const json = listener as Json;
  const chains = [...objects(json.filter_chains), ...objects([json.default_filter_chain])];
  for (const chain of chains) for (const filter of objects(chain.filters)) networkFilterReferences(object(filter.typed_config), refs);
  // Proxyless gRPC: the listener is an API listener holding the connection manager itself.
  networkFilterReferences(object(object(json.api_listener)?.api_listener), refs);
  return refs;
}

export function routeConfigurationReferences(config: AnyJson): References {
  const clusters: string[] = [];
  routeConfigurationClusters(config as Json, clusters);
  return { routes: [], clusters, endpoints: [] };
}

export function clusterReferences(cluster: AnyJson): References {
  const json = cluster as Json;
  if (json.type !== 'EDS') return { routes: [], clusters: [], endpoints: [] };
  const serviceName = object(json.eds_cluster_config)?.service_name;
  return { routes: [], clusters: [], endpoints: [typeof serviceName === 'string' && serviceName !== '' ? serviceName : String(json.name)] };
}
