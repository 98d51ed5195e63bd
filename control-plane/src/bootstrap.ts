/** `meshcp bootstrap`: an Envoy bootstrap that points the proxy's ADS stream at meshcp. */
import { METADATA } from '@meshcp/translators';

export interface BootstrapOptions {
  nodeId: string;
  service: string;
  namespace: string;
  region?: string;
  zone?: string;
  subZone?: string;
  xdsAddress: string;
  adminPort: number;
  outboundPort?: number;
  /** Inbound listener port in front of the proxy's own app, and where that app listens. */
  inboundPort?: number;
  appPort?: number;
  /** TCP services are exposed locally at their port plus this offset. */
  tcpPortOffset?: number;
  delta: boolean;
}

export const XDS_CLUSTER = 'meshcp-xds';

export function envoyBootstrap(options: BootstrapOptions): Record<string, unknown> {
  const at = options.xdsAddress.lastIndexOf(':');
  const host = options.xdsAddress.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(options.xdsAddress.slice(at + 1));
  const isIp = /^[\d.]+$|:/.test(host);
  const metadata: Record<string, unknown> = { [METADATA.namespace]: options.namespace, [METADATA.service]: options.service };
  if (options.outboundPort !== undefined) metadata[METADATA.outboundPort] = options.outboundPort;
  if (options.inboundPort !== undefined) metadata[METADATA.inboundPort] = options.inboundPort;
  if (options.appPort !== undefined) metadata[METADATA.appPort] = options.appPort;
  if (options.tcpPortOffset !== undefined) metadata[METADATA.tcpPortOffset] = options.tcpPortOffset;
  const locality: Record<string, string> = {};
  if (options.region) locality.region = options.region;
  if (options.zone) locality.zone = options.zone;
  if (options.subZone) locality.sub_zone = options.subZone;
  const configSource = { ads: {}, resource_api_version: 'V3' };
  return {
    node: { id: options.nodeId, cluster: options.service, ...(Object.keys(locality).length > 0 ? { locality } : {}), metadata },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: options.adminPort } } },
    dynamic_resources: {
      ads_config: {
        api_type: options.delta ? 'DELTA_GRPC' : 'GRPC',
        transport_api_version: 'V3',
        set_node_on_first_message_only: true,
        grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER } }],
      },
      cds_config: configSource,
      lds_config: configSource,
    },
    static_resources: {
      clusters: [
        {
          name: XDS_CLUSTER,
          type: isIp ? 'STATIC' : 'STRICT_DNS',
          connect_timeout: '1s',
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
          load_assignment: {
            cluster_name: XDS_CLUSTER,
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: host, port_value: port } } } }] }],
          },
        },
      ],
    },
  };
}

/** `meshcp bootstrap --grpc`: the gRPC xDS bootstrap JSON (GRPC_XDS_BOOTSTRAP / GRPC_XDS_BOOTSTRAP_CONFIG). */
export function grpcBootstrap(
  options: Pick<BootstrapOptions, 'nodeId' | 'service' | 'namespace' | 'region' | 'zone' | 'subZone' | 'xdsAddress'>,
): Record<string, unknown> {
  const locality: Record<string, string> = {};
  if (options.region) locality.region = options.region;
  if (options.zone) locality.zone = options.zone;
  if (options.subZone) locality.sub_zone = options.subZone;
  return {
    xds_servers: [{ server_uri: options.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: {
      id: options.nodeId,
      cluster: options.service,
      // grpc-js-xds rejects a bootstrap whose node has no locality, even an empty one.
      locality,
      metadata: { [METADATA.namespace]: options.namespace, [METADATA.service]: options.service },
    },
  };
}
