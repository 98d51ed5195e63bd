import type { LoadBalancing, MeshService, ServicePort } from '../../model/types.js';
import { clusterName } from '../names.js';

const LB_POLICY: Record<LoadBalancing, string> = {
  RoundRobin: 'ROUND_ROBIN',
  LeastRequest: 'LEAST_REQUEST',
  RingHash: 'RING_HASH',
  Maglev: 'MAGLEV',
  Random: 'RANDOM',
};

function durationText(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(3).replace(/0+$/, '')}s`;
}

/** An EDS cluster for one service port; endpoints come from the ADS stream. */
export function edsCluster(service: MeshService, port: ServicePort): Record<string, unknown> {
  const cluster: Record<string, unknown> = {
    name: clusterName(service.namespace, service.name, port.port),
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
    connect_timeout: durationText(service.connectTimeoutMs),
    lb_policy: LB_POLICY[service.loadBalancing],
  };
  if (port.protocol === 'HTTP2' || port.protocol === 'GRPC') {
    cluster.typed_extension_protocol_options = {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: {} },
      },
    };
  }
  return cluster;
}

export { durationText };
