import type { Cluster } from '@meshcp/xds-protos';
import { serviceKey } from '../../model/types.js';
import { durationText } from '../cluster.js';
import type { EnvoyFeature } from '../feature.js';
import { inboundHttpListener } from '../listener.js';

/**
 * The inbound listener in front of the proxy's own application (when the node asks
 * for one with `meshcp.inbound_port`), and the static cluster that reaches the app.
 */
export const inbound: EnvoyFeature = {
  name: 'inbound',
  resources(ctx) {
    const { model, scope } = ctx;
    const own = model.services.get(serviceKey(scope.namespace, scope.service));
    const ownPort = own?.ports.find((p) => p.protocol !== 'TCP');
    if (!scope.inboundPort || !own || !ownPort) return {};
    const local = `inbound:${ownPort.port}`;
    const cluster: Cluster = {
      name: local,
      type: 'STATIC',
      connect_timeout: durationText(own.connectTimeoutMs),
      load_assignment: {
        cluster_name: local,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: scope.appPort ?? ownPort.port } } } }] }],
      },
    };
    return { listeners: [inboundHttpListener(scope.outboundAddress, scope.inboundPort, local, ctx.httpFilters('inbound'))], clusters: [cluster] };
  },
};
