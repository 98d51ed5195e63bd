import type { Cluster, Listener, Packed, TcpProxy } from '@meshcp/xds-protos';
import { sortedServices } from '../../model/services.js';
import { TCP_PROXY } from '../../type-urls.js';
import type { EnvoyFeature } from '../feature.js';
import { httpConnectionManager } from '../listener.js';
import { clusterName, outboundRouteName } from '../names.js';

/** Where captured connections to nothing in the mesh go: their original destination. */
export const PASSTHROUGH_CLUSTER = 'passthrough';

/**
 * Transparent capture (a proxy whose node sets `meshcp.capture_port`, as the
 * Kubernetes sidecar injector does): iptables redirects every outbound TCP
 * connection of the app to this listener, which recovers the address the app
 * dialled (SO_ORIGINAL_DST, the `original_dst` listener filter) and picks a
 * filter chain by its port:
 *   - a mesh TCP service's port → TCP proxy to that service's cluster (the
 *     model allows one TCP service per port, so the port names it);
 *   - a mesh HTTP service's port → the outbound HTTP route configuration,
 *     routed by Host as in explicit mode (`http://payments.shop:8080` works
 *     unchanged);
 *   - anything else → passed through to the original destination untouched
 *     (the API server, addresses outside the mesh).
 * Where a TCP and an HTTP service share a port number, the TCP service wins
 * (the model carries no service addresses to tell them apart).
 */
export const transparentCapture: EnvoyFeature = {
  name: 'transparent-capture',
  resources(ctx) {
    const { model, scope } = ctx;
    if (!scope.capturePort) return {};
    const tcpByPort = new Map<number, string>();
    const httpPorts = new Set<number>();
    for (const service of sortedServices(model)) {
      for (const port of service.ports) {
        if (port.protocol === 'TCP') {
          if (!tcpByPort.has(port.port)) tcpByPort.set(port.port, clusterName(service.namespace, service.name, port.port));
        } else {
          httpPorts.add(port.port);
        }
      }
    }
    const tcpProxy = (cluster: string): Packed<TcpProxy> => ({
      '@type': TCP_PROXY,
      stat_prefix: `capture:${cluster}`,
      cluster,
    });
    const chains: NonNullable<Listener['filter_chains']> = [];
    for (const port of [...tcpByPort.keys()].sort((a, b) => a - b)) {
      chains.push({
        name: `tcp:${port}`,
        filter_chain_match: { destination_port: port },
        filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: tcpProxy(tcpByPort.get(port) as string) }],
      });
    }
    const http = httpConnectionManager(`capture:${scope.capturePort}`, { rdsName: outboundRouteName(scope.outboundPort) }, ctx.httpFilters('outbound'));
    for (const port of [...httpPorts].filter((p) => !tcpByPort.has(p)).sort((a, b) => a - b)) {
      chains.push({
        name: `http:${port}`,
        filter_chain_match: { destination_port: port },
        filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: http }],
      });
    }
    const listener: Listener = {
      name: `capture:${scope.capturePort}`,
      address: { socket_address: { address: scope.outboundAddress, port_value: scope.capturePort } },
      traffic_direction: 'OUTBOUND',
      listener_filters: [
        {
          name: 'envoy.filters.listener.original_dst',
          typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst' },
        },
      ],
      filter_chains: chains,
      default_filter_chain: {
        name: 'passthrough',
        filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: tcpProxy(PASSTHROUGH_CLUSTER) }],
      },
    };
    const passthrough: Cluster = { name: PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: '5s' };
    return { listeners: [listener], clusters: [passthrough] };
  },
};
