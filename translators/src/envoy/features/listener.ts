import { outboundListenerName, outboundRouteName } from '../names.js';

const ADS_CONFIG_SOURCE = { ads: {}, resource_api_version: 'V3' };

/** The sidecar's outbound HTTP listener: routes by Host through RDS. */
export function outboundHttpListener(address: string, port: number): Record<string, unknown> {
  return {
    name: outboundListenerName(port),
    address: { socket_address: { address, port_value: port } },
    traffic_direction: 'OUTBOUND',
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: outboundListenerName(port),
              codec_type: 'AUTO',
              rds: { config_source: ADS_CONFIG_SOURCE, route_config_name: outboundRouteName(port) },
              http_filters: [
                {
                  name: 'envoy.filters.http.router',
                  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                },
              ],
            },
          },
        ],
      },
    ],
  };
}
