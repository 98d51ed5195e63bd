import { sortedServices } from '../../model/services.js';
import type { EnvoyFeature } from '../feature.js';
import { outboundTcpListener } from '../listener.js';
import { clusterName } from '../names.js';

/**
 * A TCP service port has no Host to route by, so it gets a local listener of its
 * own at its port plus the proxy's `tcpPortOffset`. Two services of one file on one
 * port are rejected by the model, but Services of different namespaces may share a
 * port: the proxy's own namespace's service has it first (another namespace must not
 * take the port its apps dial), then the others in name order. Ports that would
 * collide with the outbound HTTP listener or leave the port range are skipped.
 */
export const tcpListeners: EnvoyFeature = {
  name: 'tcp-listeners',
  resources({ model, scope }) {
    const listeners = [];
    const taken = new Set<number>([scope.outboundPort]);
    const ordered = sortedServices(model);
    const ownFirst = [...ordered.filter((s) => s.namespace === scope.namespace), ...ordered.filter((s) => s.namespace !== scope.namespace)];
    for (const service of ownFirst) {
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
