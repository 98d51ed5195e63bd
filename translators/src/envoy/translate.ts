/**
 * IR → Envoy xDS. Pure: the output depends only on the model and the proxy's
 * profile inputs, which is what lets the cache share it between proxies and lets
 * golden tests pin it.
 */
import type { MeshModel, MeshService, ServicePort } from '../model/types.js';
import { serviceKey } from '../model/types.js';
import type { ProxyInfo } from '../proxy.js';
import type { EnvoyProfile } from './capabilities.js';
import { edsCluster } from './features/cluster.js';
import { loadAssignment } from './features/endpoints.js';
import { outboundHttpListener } from './features/listener.js';
import { outboundRouteConfiguration } from './features/routes.js';
import { parseClusterName } from './names.js';

type Json = Record<string, unknown>;

/** The inputs that make Envoy config (LDS/RDS/CDS) differ between proxies. */
export type EnvoyConfigScope = Pick<ProxyInfo, 'outboundAddress' | 'outboundPort' | 'namespace'>;

export interface EnvoyConfig {
  listeners: Json[];
  routes: Json[];
  clusters: Json[];
}

export function translateEnvoyConfig(model: MeshModel, scope: EnvoyConfigScope, _profile: EnvoyProfile): EnvoyConfig {
  const clusters: Json[] = [];
  for (const key of [...model.services.keys()].sort()) {
    const service = model.services.get(key) as MeshService;
    for (const port of service.ports) if (port.protocol !== 'TCP') clusters.push(edsCluster(service, port));
  }
  return {
    listeners: [outboundHttpListener(scope.outboundAddress, scope.outboundPort)],
    routes: [outboundRouteConfiguration(model, scope.outboundPort, scope.namespace)],
    clusters,
  };
}

export function serviceOfCluster(model: MeshModel, cluster: string): { service: MeshService; port: ServicePort } | undefined {
  const parsed = parseClusterName(cluster);
  if (!parsed) return undefined;
  const service = model.services.get(serviceKey(parsed.namespace, parsed.name));
  const port = service?.ports.find((p) => p.port === parsed.port);
  return service && port ? { service, port } : undefined;
}

/** The ClusterLoadAssignment of one cluster for a proxy at `locality`, or undefined if no such cluster. */
export function translateEnvoyEndpoints(model: MeshModel, cluster: string, locality: ProxyInfo['locality'], _profile: EnvoyProfile): Json | undefined {
  const target = serviceOfCluster(model, cluster);
  return target ? loadAssignment(target.service, target.port, locality) : undefined;
}
