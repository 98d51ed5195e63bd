import type { ClusterLoadAssignment, LbEndpoint, LocalityLbEndpoints } from '@meshcp/xds-protos';
import type { Endpoint, EndpointHealth, Locality, MeshService, ServicePort } from '../model/types.js';
import { localityKey } from '../proxy.js';
import { clusterName } from './names.js';

const COLLATOR = new Intl.Collator();

const HEALTH_STATUS: Record<EndpointHealth, LbEndpoint['health_status']> = {
  Healthy: 'HEALTHY',
  Unhealthy: 'UNHEALTHY',
  Draining: 'DRAINING',
};

/**
 * Failover tier of an endpoint relative to the calling proxy: with
 * localityPriority [zone, region], same zone → 0, same region → 1, else 2.
 * A label matches only when every broader label matches too.
 */
export function failoverTier(service: MeshService, endpoint: Endpoint, proxyLocality: Locality): number {
  if (endpoint.priority !== undefined) return endpoint.priority;
  const labels = service.failover.localityPriority;
  if (!proxyLocality.region && !proxyLocality.zone && !proxyLocality.subZone) return 0;
  const sameRegion = endpoint.locality.region === proxyLocality.region;
  const sameZone = sameRegion && endpoint.locality.zone === proxyLocality.zone;
  const sameSubZone = sameZone && endpoint.locality.subZone === proxyLocality.subZone;
  // A loop, not findIndex over an object of matches: this runs once per endpoint per locality variant.
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (label === 'region' ? sameRegion : label === 'zone' ? sameZone : label === 'subZone' && sameSubZone) return i;
  }
  return labels.length;
}

/** What differs between the clients a ClusterLoadAssignment is made for, decided by their capability tables. */
export interface EndpointOptions {
  /** Every locality carries a weight even when the service does not ask for locality weighting (gRPC drops unweighted ones, gRFC A27). */
  alwaysWeighLocalities: boolean;
  /** Every group names a locality, empty when its endpoints have none (grpc-go rejects a group without one: "locality without ID"). */
  alwaysNameLocalities: boolean;
  /** Per-endpoint additions of the client's registered features (Envoy's endpoint hooks); none for gRPC. */
  decorate?: (lbEndpoint: LbEndpoint, endpoint: Endpoint) => void;
}

function lbEndpoint(endpoint: Endpoint, port: ServicePort, options: EndpointOptions): LbEndpoint {
  const out: LbEndpoint = {
    endpoint: { address: { socket_address: { address: endpoint.address, port_value: endpoint.ports[port.name] ?? port.port } } },
    health_status: HEALTH_STATUS[endpoint.health],
  };
  options.decorate?.(out, endpoint);
  if (endpoint.weight !== undefined) out.load_balancing_weight = endpoint.weight;
  return out;
}

/**
 * The ClusterLoadAssignment a proxy in `proxyLocality` gets. Depends only on the
 * service, the proxy's locality and its client's options, so the cache shares it per locality.
 * Priorities are renumbered to be contiguous from 0, as Envoy requires.
 */
export function loadAssignment(service: MeshService, port: ServicePort, proxyLocality: Locality, options: EndpointOptions): ClusterLoadAssignment {
  const groups = new Map<string, { locality: Locality; localityKey: string; tier: number; endpoints: Endpoint[] }>();
  for (const endpoint of service.endpoints) {
    const tier = failoverTier(service, endpoint, proxyLocality);
    const locality = localityKey(endpoint.locality);
    const key = `${tier}|${locality}`;
    let group = groups.get(key);
    if (!group) {
      group = { locality: endpoint.locality, localityKey: locality, tier, endpoints: [] };
      groups.set(key, group);
    }
    group.endpoints.push(endpoint);
  }
  const tiers: number[] = [];
  for (const group of groups.values()) if (!tiers.includes(group.tier)) tiers.push(group.tier);
  tiers.sort((a, b) => a - b);
  // COLLATOR.compare orders exactly as String.prototype.localeCompare without arguments, without building a collator per call.
  const ordered = [...groups.values()].sort((a, b) => a.tier - b.tier || COLLATOR.compare(a.localityKey, b.localityKey));
  const cla: ClusterLoadAssignment = {
    cluster_name: clusterName(service.namespace, service.name, port.port),
    endpoints: ordered.map((group) => {
      const locality: LocalityLbEndpoints = { lb_endpoints: group.endpoints.map((e) => lbEndpoint(e, port, options)) };
      const envoyLocality = toEnvoyLocality(group.locality) ?? (options.alwaysNameLocalities ? {} : undefined);
      if (envoyLocality) locality.locality = envoyLocality;
      const priority = tiers.indexOf(group.tier);
      if (priority > 0) locality.priority = priority;
      if (service.failover.localityWeighted || options.alwaysWeighLocalities) {
        locality.load_balancing_weight = group.endpoints.reduce((sum, e) => sum + (e.weight ?? 1), 0);
      }
      return locality;
    }),
  };
  if (service.failover.overprovisioningFactor !== undefined) {
    cla.policy = { overprovisioning_factor: service.failover.overprovisioningFactor };
  }
  return cla;
}

function toEnvoyLocality(locality: Locality): LocalityLbEndpoints['locality'] {
  const out: NonNullable<LocalityLbEndpoints['locality']> = {};
  if (locality.region) out.region = locality.region;
  if (locality.zone) out.zone = locality.zone;
  if (locality.subZone) out.sub_zone = locality.subZone;
  return Object.keys(out).length > 0 ? out : undefined;
}
