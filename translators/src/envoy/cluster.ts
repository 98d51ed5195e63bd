/** The core of a service port's cluster: identity, timeouts, balancing and how it discovers endpoints. */
import type { AnyJson, Cluster } from '@meshcp/xds-protos';
import type { LoadBalancing, MeshService, ServicePort } from '../model/types.js';
import { HTTP_PROTOCOL_OPTIONS } from '../type-urls.js';
import { type EnvoyProfile, supports } from './capabilities.js';
import { type EndpointOptions, loadAssignment } from './endpoints.js';
import type { EnvoyContext } from './feature.js';
import { clusterName } from './names.js';

const LB_POLICY: Record<LoadBalancing, Cluster['lb_policy']> = {
  RoundRobin: 'ROUND_ROBIN',
  LeastRequest: 'LEAST_REQUEST',
  RingHash: 'RING_HASH',
  Maglev: 'MAGLEV',
  Random: 'RANDOM',
};

export function durationText(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(3).replace(/0+$/, '')}s`;
}

export function isHttp2(port: ServicePort): boolean {
  return port.protocol === 'HTTP2' || port.protocol === 'GRPC';
}

/** True when an endpoint address is a hostname that Envoy must resolve. */
export function needsDns(service: MeshService): boolean {
  return service.endpoints.some((e) => !/^[\d.]+$|:/.test(e.address));
}

/** What every cluster of a service port starts with; features add to it. */
export function baseCluster(service: MeshService, port: ServicePort): Cluster {
  return {
    name: clusterName(service.namespace, service.name, port.port),
    connect_timeout: durationText(service.connectTimeoutMs),
    lb_policy: LB_POLICY[service.loadBalancing],
  };
}

/**
 * How the cluster finds its endpoints: EDS when every endpoint is an IP address;
 * otherwise DNS with the endpoints inline (EDS cannot carry hostnames).
 */
export function setDiscovery(cluster: Cluster, service: MeshService, port: ServicePort, ctx: EnvoyContext, endpointOptions: EndpointOptions): void {
  if (!needsDns(service)) {
    cluster.type = 'EDS';
    cluster.eds_cluster_config = { eds_config: { ads: {}, resource_api_version: 'V3' } };
    return;
  }
  setDnsResolution(cluster, ctx.profile);
  cluster.load_assignment = loadAssignment(service, port, {}, endpointOptions);
}

/** A cluster whose hosts are names Envoy resolves: the DNS cluster extension where the version has it. */
export function setDnsResolution(cluster: Cluster, profile: EnvoyProfile): void {
  // IPv4 first: a dual-stack name such as localhost would otherwise resolve to ::1 first,
  // where services that bind 127.0.0.1 do not listen.
  if (supports(profile, 'cluster.dnsClusterExtension')) {
    const dns: AnyJson = {
      '@type': 'type.googleapis.com/envoy.extensions.clusters.dns.v3.DnsCluster',
      all_addresses_in_single_endpoint: false,
      dns_lookup_family: 'V4_PREFERRED',
    };
    cluster.cluster_type = { name: 'envoy.cluster.dns', typed_config: dns };
  } else {
    cluster.type = 'STRICT_DNS';
    cluster.dns_lookup_family = 'V4_PREFERRED';
  }
}

/**
 * A gRPC server at one address Envoy itself talks to (the xDS server in a bootstrap,
 * the tracing collector): HTTP/2 with Envoy's defaults, one endpoint. `type` is the
 * discovery for a literal address; a name's resolution is the caller's to set.
 */
export function grpcServerCluster(name: string, address: string, port: number, type?: Cluster['type']): Cluster {
  return {
    name,
    ...(type ? { type } : {}),
    connect_timeout: '1s',
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': HTTP_PROTOCOL_OPTIONS,
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address, port_value: port } } } }] }],
    },
  };
}
