import { sortedServices } from '../../model/services.js';
import type { EnvoyFeature } from '../feature.js';
import { outboundTcpListener } from '../listener.js';
import { clusterName } from '../names.js';

/**
 * A TCP service port has no Host to route by, so it gets a local listener of its
 * own at its port plus the proxy's `tcpPortOffset`. Two services on one port are
 * rejected by the model, so each port here is unique; ports that would collide
 * with the outbound HTTP listener or leave the port range are skipped.
 */
export const tcpListeners: EnvoyFeature = {
  name: 'tcp-listeners',
  resources({ model, scope }) {
    const listeners = [];
    const taken = new Set<number>([scope.outboundPort]);
    for (const service of sortedServices(model)) {
      for (const port of service.ports) {
        if (port.protocol !== 'TCP') continue;
        const listenPort = port.port + scope.tcpPortOffset;
        if (listenPort > 65535 || taken.has(listenPort)) continue;
        taken.add(listenPort);
        listeners.push(outboundTcpListener(scope.outboundAddress, listenPort, clusterName(service.namespace, service.name, port.port)));
      }
    }
    return { listeners };
  },
};
