import type { HttpConnectionManager, HttpFilter, Listener, Packed, RouteConfiguration, TcpProxy } from '@meshcp/xds-protos';
import { HTTP_CONNECTION_MANAGER, ROUTER_FILTER, TCP_PROXY } from '../type-urls.js';
import { outboundListenerName, outboundRouteName } from './names.js';

const ADS_CONFIG_SOURCE = { ads: {}, resource_api_version: 'V3' } as const;

/** An HTTP connection manager: the registered features' filters, then the router (which must be last). */
export function httpConnectionManager(
  statPrefix: string,
  routing: { rdsName: string } | { routeConfig: RouteConfiguration },
  filters: readonly HttpFilter[],
): Packed<HttpConnectionManager> {
  return {
    '@type': HTTP_CONNECTION_MANAGER,
    stat_prefix: statPrefix,
    codec_type: 'AUTO',
    ...('rdsName' in routing ? { rds: { config_source: ADS_CONFIG_SOURCE, route_config_name: routing.rdsName } } : { route_config: routing.routeConfig }),
    http_filters: [...filters, ROUTER_FILTER],
  };
}

function socketAddress(address: string, port: number): Listener['address'] {
  return { socket_address: { address, port_value: port } };
}

/** The sidecar's outbound HTTP listener: routes by Host through RDS. */
export function outboundHttpListener(address: string, port: number, filters: readonly HttpFilter[]): Listener {
  return {
    name: outboundListenerName(port),
    address: socketAddress(address, port),
    traffic_direction: 'OUTBOUND',
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: httpConnectionManager(outboundListenerName(port), { rdsName: outboundRouteName(port) }, filters),
          },
        ],
      },
    ],
  };
}

/** A TCP service port has no Host to route by, so it gets a listener of its own. */
export function outboundTcpListener(address: string, listenPort: number, cluster: string): Listener {
  const proxy: Packed<TcpProxy> = {
    '@type': TCP_PROXY,
    stat_prefix: `tcp:${cluster}`,
    cluster,
  };
  return {
    name: `outbound-tcp:${listenPort}`,
    address: socketAddress(address, listenPort),
    traffic_direction: 'OUTBOUND',
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: proxy }] }],
  };
}

/** The inbound listener in front of the proxy's own application. */
export function inboundHttpListener(address: string, port: number, localCluster: string, filters: readonly HttpFilter[]): Listener {
  const routeConfig: RouteConfiguration = {
    name: `inbound:${port}`,
    virtual_hosts: [{ name: 'inbound', domains: ['*'], routes: [{ name: 'local-app', match: { prefix: '/' }, route: { cluster: localCluster } }] }],
  };
  return {
    name: `inbound:${port}`,
    address: socketAddress(address, port),
    traffic_direction: 'INBOUND',
    filter_chains: [
      {
        filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: httpConnectionManager(`inbound:${port}`, { routeConfig }, filters) }],
      },
    ],
  };
}
