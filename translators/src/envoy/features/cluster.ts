import type { AnyJson, Cluster, HealthCheck, Http2ProtocolOptions, HttpProtocolOptions, Packed } from '@meshcp/xds-protos';
import type { LoadBalancing, MeshService, ServicePort } from '../../model/types.js';
import { type EnvoyProfile, supports } from '../capabilities.js';
import { clusterName } from '../names.js';
import { loadAssignment } from './endpoints.js';

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

/**
 * HTTP/2 limits pinned to the values Envoy 1.36 made default, so every version in
 * the fleet behaves alike (capability 'http2.safeDefaultsPinned': older versions
 * default to 2^31-1 streams and 256 MiB windows).
 */
export const PINNED_HTTP2: Http2ProtocolOptions = {
  max_concurrent_streams: 1024,
  initial_stream_window_size: 16 * 1024 * 1024,
  initial_connection_window_size: 24 * 1024 * 1024,
};

function isHttp2(port: ServicePort): boolean {
  return port.protocol === 'HTTP2' || port.protocol === 'GRPC';
}

function healthCheck(service: MeshService, port: ServicePort): HealthCheck | undefined {
  const hc = service.healthCheck;
  if (!hc) return undefined;
  const check: HealthCheck = {
    timeout: durationText(hc.timeoutMs),
    interval: durationText(hc.intervalMs),
    unhealthy_threshold: hc.unhealthyThreshold,
    healthy_threshold: hc.healthyThreshold,
    // Probe newly added hosts at once instead of after the first interval.
    no_traffic_interval: durationText(hc.intervalMs),
  };
  if (port.protocol === 'GRPC') check.grpc_health_check = { service_name: '' };
  else if (port.protocol === 'TCP') check.tcp_health_check = {};
  else check.http_health_check = { path: hc.path, ...(isHttp2(port) ? { codec_client_type: 'HTTP2' as const } : {}) };
  return check;
}

/** Settings shared by EDS and DNS clusters of one service port. */
function commonCluster(service: MeshService, port: ServicePort): Cluster {
  const cluster: Cluster = {
    name: clusterName(service.namespace, service.name, port.port),
    connect_timeout: durationText(service.connectTimeoutMs),
    lb_policy: LB_POLICY[service.loadBalancing],
  };
  if (isHttp2(port)) {
    const options: Packed<HttpProtocolOptions> = {
      '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      explicit_http_config: { http2_protocol_options: PINNED_HTTP2 },
    };
    cluster.typed_extension_protocol_options = { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': options };
  }
  const check = healthCheck(service, port);
  if (check) cluster.health_checks = [check];
  const od = service.outlierDetection;
  if (od) {
    cluster.outlier_detection = {
      consecutive_5xx: od.consecutive5xx,
      interval: durationText(od.intervalMs),
      base_ejection_time: durationText(od.baseEjectionTimeMs),
      max_ejection_percent: od.maxEjectionPercent,
    };
  }
  const cb = service.circuitBreakers;
  if (cb) {
    cluster.circuit_breakers = {
      thresholds: [
        {
          priority: 'DEFAULT',
          ...(cb.maxConnections !== undefined ? { max_connections: cb.maxConnections } : {}),
          ...(cb.maxPendingRequests !== undefined ? { max_pending_requests: cb.maxPendingRequests } : {}),
          ...(cb.maxRequests !== undefined ? { max_requests: cb.maxRequests } : {}),
          ...(cb.maxRetries !== undefined ? { max_retries: cb.maxRetries } : {}),
        },
      ],
    };
  }
  if (service.failover.localityWeighted) cluster.common_lb_config = { locality_weighted_lb_config: {} };
  return cluster;
}

/** True when an endpoint address is a hostname that Envoy must resolve. */
export function needsDns(service: MeshService): boolean {
  return service.endpoints.some((e) => !/^[\d.]+$|:/.test(e.address));
}

/**
 * The cluster of one service port: EDS when every endpoint is an IP address;
 * otherwise a DNS cluster carrying its endpoints inline (EDS cannot carry hostnames).
 */
export function serviceCluster(service: MeshService, port: ServicePort, profile: EnvoyProfile): Cluster {
  const cluster = commonCluster(service, port);
  if (!needsDns(service)) {
    cluster.type = 'EDS';
    cluster.eds_cluster_config = { eds_config: { ads: {}, resource_api_version: 'V3' } };
    return cluster;
  }
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
  cluster.load_assignment = loadAssignment(service, port, {}, profile);
  return cluster;
}
