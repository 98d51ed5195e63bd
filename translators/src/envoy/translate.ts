/**
 * IR → Envoy xDS. Pure: the output depends only on the model, the proxy's scope
 * and its profile, which is what lets the cache share it between proxies and lets
 * golden tests pin it.
 */
import type { Cluster, ClusterLoadAssignment, Listener, RouteConfiguration } from '@meshcp/xds-protos';
import type { MeshModel, MeshService, ServicePort } from '../model/types.js';
import { serviceKey } from '../model/types.js';
import type { ProxyInfo } from '../proxy.js';
import { type EnvoyProfile, supports } from './capabilities.js';
import { durationText, needsDns, serviceCluster } from './features/cluster.js';
import { loadAssignment } from './features/endpoints.js';
import { inboundHttpListener, outboundHttpListener, outboundTcpListener } from './features/listener.js';
import { outboundRouteConfiguration } from './features/routes.js';
import { clusterName, parseClusterName } from './names.js';

/** The inputs that make Envoy config (LDS/RDS/CDS) differ between proxies. */
export type EnvoyConfigScope = Pick<ProxyInfo, 'outboundAddress' | 'outboundPort' | 'namespace' | 'service' | 'inboundPort' | 'appPort' | 'tcpPortOffset'>;

export interface EnvoyConfig {
  listeners: Listener[];
  routes: RouteConfiguration[];
  clusters: Cluster[];
}

function sortedServices(model: MeshModel): MeshService[] {
  return [...model.services.keys()].sort().map((key) => model.services.get(key) as MeshService);
}

/** The key of the variant a scope reads: proxies with equal keys get identical config. */
export function envoyConfigScopeKey(scope: EnvoyConfigScope): string {
  const inbound = scope.inboundPort ? `|in:${scope.inboundPort}>${scope.appPort ?? ''}|${scope.namespace}/${scope.service}` : '';
  return `${scope.outboundAddress}:${scope.outboundPort}|${scope.namespace}|tcp+${scope.tcpPortOffset}${inbound}`;
}

export function translateEnvoyConfig(model: MeshModel, scope: EnvoyConfigScope, profile: EnvoyProfile): EnvoyConfig {
  const clusters: Cluster[] = [];
  const listeners: Listener[] = [outboundHttpListener(scope.outboundAddress, scope.outboundPort)];
  const tcpPorts = new Set<number>();
  for (const service of sortedServices(model)) {
    for (const port of service.ports) {
      clusters.push(serviceCluster(service, port, profile));
      if (port.protocol !== 'TCP') continue;
      const listenPort = port.port + scope.tcpPortOffset;
      // Two TCP services on one port cannot both listen locally; the first (sorted) wins.
      if (listenPort > 65535 || listenPort === scope.outboundPort || tcpPorts.has(listenPort)) continue;
      tcpPorts.add(listenPort);
      listeners.push(outboundTcpListener(scope.outboundAddress, listenPort, clusterName(service.namespace, service.name, port.port)));
    }
  }
  const own = model.services.get(serviceKey(scope.namespace, scope.service));
  const ownPort = own?.ports.find((p) => p.protocol !== 'TCP');
  if (scope.inboundPort && own && ownPort) {
    const local = `inbound:${ownPort.port}`;
    listeners.push(inboundHttpListener(scope.outboundAddress, scope.inboundPort, local));
    clusters.push({
      name: local,
      type: 'STATIC',
      connect_timeout: durationText(own.connectTimeoutMs),
      load_assignment: {
        cluster_name: local,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: scope.appPort ?? ownPort.port } } } }] }],
      },
    });
  }
  return { listeners, routes: [outboundRouteConfiguration(model, scope.outboundPort, scope.namespace, profile)], clusters };
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
  for (const service of sortedServices(model)) {
    if (needsDns(service)) continue;
    for (const port of service.ports) names.push(clusterName(service.namespace, service.name, port.port));
  }
  return names;
}

/** The ClusterLoadAssignment of one EDS cluster for a proxy at `locality`, or undefined if none. */
export function translateEnvoyEndpoints(
  model: MeshModel,
  cluster: string,
  locality: ProxyInfo['locality'],
  profile: EnvoyProfile,
): ClusterLoadAssignment | undefined {
  const target = serviceOfCluster(model, cluster);
  if (!target || needsDns(target.service)) return undefined;
  return loadAssignment(target.service, target.port, locality, profile);
}

/**
 * What the model asks for that this proxy's version cannot be given in any form
 * (features with an older equivalent are translated, not listed).
 */
export function envoyDegraded(model: MeshModel, profile: EnvoyProfile): string[] {
  const degraded: string[] = [];
  if (!supports(profile, 'endpoint.observabilityName')) {
    const named = sortedServices(model).filter((s) => s.endpoints.some((e) => e.name));
    if (named.length > 0)
      degraded.push(
        `endpoint names (observability_name) need Envoy 1.39+: not shown for ${named.length} service(s), e.g. ${named[0]?.namespace}/${named[0]?.name}`,
      );
  }
  return degraded;
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
