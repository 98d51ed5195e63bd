/** Resource names shared by translators, the cache and tests. */
import type { MeshService, ServicePort } from '../model/types.js';

export function clusterName(namespace: string, name: string, port: number): string {
  return `${name}.${namespace}:${port}`;
}

export function parseClusterName(cluster: string): { namespace: string; name: string; port: number } | undefined {
  const match = /^([a-z0-9-]+)\.([a-z0-9-]+):(\d+)$/.exec(cluster);
  if (!match) return undefined;
  return { name: match[1] as string, namespace: match[2] as string, port: Number(match[3]) };
}

export function outboundListenerName(port: number): string {
  return `outbound:${port}`;
}

export function outboundRouteName(port: number): string {
  return `outbound:${port}`;
}

/**
 * Host names a service port answers to. The bare service name is only given to
 * services in the proxy's own namespace (as Kubernetes DNS search paths do), and
 * only on the service's first port, so no two virtual hosts ever share a domain
 * (Envoy rejects a RouteConfiguration with duplicate domains).
 */
export function domainsFor(service: MeshService, port: ServicePort, proxyNamespace: string): string[] {
  const names = [`${service.name}.${service.namespace}`, `${service.name}.${service.namespace}.svc.cluster.local`];
  if (service.namespace === proxyNamespace) names.unshift(service.name);
  const primary = service.ports[0]?.port === port.port;
  const domains: string[] = [];
  for (const name of names) {
    if (primary) domains.push(name);
    domains.push(`${name}:${port.port}`);
  }
  return domains;
}
