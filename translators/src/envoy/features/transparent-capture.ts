import { isIPv6 } from 'node:net';
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
 * filter chain by it:
 *   - a mesh TCP service's cluster IP and port → TCP proxy to that service's
 *     cluster. Matched on the address, not the port alone: a port number is no
 *     one's to claim, and a Service in another namespace (or `default/kubernetes`,
 *     a TCP service on 443 in every cluster) must not take every connection to
 *     that port from every pod;
 *   - a TCP service with no cluster IP (headless, or declared without a Service)
 *     in the proxy's own namespace → matched on its port alone (the namespace's
 *     owners chose it; the first in name order wins a shared port). In another
 *     namespace it is not captured: connections go where they were dialled;
 *   - a mesh HTTP service's port → the outbound HTTP route configuration,
 *     routed by Host as in explicit mode (`http://payments.shop:8080` works
 *     unchanged);
 *   - anything else → passed through to the original destination untouched
 *     (the API server, addresses outside the mesh).
 * Envoy takes the chain with the most specific destination address for a port,
 * so a cluster IP's chain wins over a port-only one.
 */
export const transparentCapture: EnvoyFeature = {
  name: 'transparent-capture',
  resources(ctx) {
    const { model, scope } = ctx;
    if (!scope.capturePort) return {};
    /** TCP chains by port, then by the destination they match (an address, or '' for the port alone). */
    const tcpByPort = new Map<number, Map<string, string>>();
    const httpPorts = new Set<number>();
    for (const service of sortedServices(model)) {
      for (const port of service.ports) {
        if (port.protocol !== 'TCP') {
          httpPorts.add(port.port);
          continue;
        }
        const destinations = service.addresses?.length ? service.addresses : service.namespace === scope.namespace ? [''] : [];
        for (const destination of destinations) {
          const chains = tcpByPort.get(port.port) ?? new Map<string, string>();
          tcpByPort.set(port.port, chains);
          if (!chains.has(destination)) chains.set(destination, clusterName(service.namespace, service.name, port.port));
        }
      }
    }
    const tcpProxy = (cluster: string): Packed<TcpProxy> => ({
      '@type': TCP_PROXY,
      stat_prefix: `capture:${cluster}`,
      cluster,
    });
    const tcpProxyFilter = (cluster: string) => ({ name: 'envoy.filters.network.tcp_proxy', typed_config: tcpProxy(cluster) });
    const chains: NonNullable<Listener['filter_chains']> = [];
    for (const port of [...tcpByPort.keys()].sort((a, b) => a - b)) {
      const byDestination = tcpByPort.get(port) as Map<string, string>;
      for (const destination of [...byDestination.keys()].sort()) {
        const cluster = byDestination.get(destination) as string;
        chains.push(
          destination === ''
            ? { name: `tcp:${port}`, filter_chain_match: { destination_port: port }, filters: [tcpProxyFilter(cluster)] }
            : {
                name: `tcp:${destination}:${port}`,
                filter_chain_match: { destination_port: port, prefix_ranges: [{ address_prefix: destination, prefix_len: isIPv6(destination) ? 128 : 32 }] },
                filters: [tcpProxyFilter(cluster)],
              },
        );
      }
    }
    const http = httpConnectionManager(`capture:${scope.capturePort}`, { rdsName: outboundRouteName(scope.outboundPort) }, ctx.httpFilters('outbound'));
    // A port-only TCP chain takes its port's connections whatever their Host; HTTP keeps the others.
    for (const port of [...httpPorts].filter((p) => !tcpByPort.get(p)?.has('')).sort((a, b) => a - b)) {
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
        filters: [tcpProxyFilter(PASSTHROUGH_CLUSTER)],
      },
    };
    const passthrough: Cluster = { name: PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: '5s' };
    return { listeners: [listener], clusters: [passthrough] };
  },
};
