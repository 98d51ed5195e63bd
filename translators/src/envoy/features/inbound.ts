import type { Cluster } from '@meshcp/xds-protos';
import { serviceKey } from '../../model/types.js';
import { durationText, isHttp2 } from '../cluster.js';
import type { EnvoyFeature } from '../feature.js';
import { inboundHttpListener } from '../listener.js';
import { http2UpstreamOptions } from './http2-options.js';

/**
 * The inbound listener in front of the proxy's own application (when the node asks
 * for one with `meshcp.inbound_port`), and the static cluster that reaches the app —
 * over HTTP/2 when the app's port is GRPC/HTTP2 (a gRPC server refuses HTTP/1.1).
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
      ...(isHttp2(ownPort) ? { typed_extension_protocol_options: http2UpstreamOptions() } : {}),
    };
    return { listeners: [inboundHttpListener(scope.outboundAddress, scope.inboundPort, local, ctx.httpFilters('inbound'))], clusters: [cluster] };
  },
};
