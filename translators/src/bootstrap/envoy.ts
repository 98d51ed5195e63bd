/**
 * `meshcp bootstrap`: an Envoy bootstrap that points the proxy's ADS stream at meshcp.
 * Pure (options in, bootstrap object out) so the CLI and a Kubernetes sidecar injector
 * share it without importing the server.
 */
import { METADATA } from '../proxy.js';
import { type BootstrapOptions, localityOf } from './options.js';

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
  const locality = localityOf(options);
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
