/**
 * The transparent-capture translator feature (translators/src/envoy/features/
 * transparent-capture.ts) without a cluster: what a captured sidecar's capture
 * listener holds, and that nothing changes for a proxy that is not captured.
 * cluster-e2e.test.ts drives the same listener with real traffic.
 */

import type { Listener } from '@meshcp/xds-protos';
import { describe, expect, it } from 'vitest';
import { envoyConfigScopeKey, envoyProfile, type MeshModel, type MeshService, proxyFromNode, translateEnvoyConfig } from '../../translators/src/index.js';
import { loadFixture } from '../../translators/test/fixtures.js';

function sidecar(metadata: Record<string, unknown>) {
  return proxyFromNode({
    id: 'web-1.shop',
    user_agent_name: 'envoy',
    user_agent_build_version: { version: { major_number: 1, minor_number: 40, patch: 0 } },
    metadata: { 'meshcp.namespace': 'shop', 'meshcp.service': 'web', ...metadata },
  });
}

/** The model with these services given cluster IPs, as the Kubernetes source gives a Service's. */
function withAddresses(model: MeshModel, addresses: Record<string, string[]>): MeshModel {
  const services = new Map([...model.services].map(([key, service]) => [key, addresses[key] ? { ...service, addresses: addresses[key] } : service]));
  return { ...model, services };
}

/** Each chain of a capture listener as `match → where it goes`. */
function chainTable(listener: Listener | undefined): string[] {
  return (listener?.filter_chains ?? []).map((chain) => {
    const match = chain.filter_chain_match ?? {};
    const prefix = match.prefix_ranges?.map((r) => `${r.address_prefix}/${r.prefix_len}`).join(',') ?? '*';
    const config = chain.filters?.[0]?.typed_config as { cluster?: string } | undefined;
    return `${prefix}:${match.destination_port} → ${config?.cluster ?? 'http routes'}`;
  });
}

describe('transparent capture', () => {
  const model = withAddresses(loadFixture('cluster-policies'), { 'data/postgres': ['10.96.0.20'] });
  const captured = sidecar({ 'meshcp.capture_port': 15001, 'meshcp.outbound_port': 15081, 'meshcp.outbound_address': '0.0.0.0' });
  const config = translateEnvoyConfig(model, captured, envoyProfile(captured));
  const capture = config.listeners.find((l) => l.name === 'capture:15001');

  it('adds a capture listener that reads the original destination, and the passthrough cluster', () => {
    expect(capture?.address).toEqual({ socket_address: { address: '0.0.0.0', port_value: 15001 } });
    expect(capture?.listener_filters?.map((f) => f.name)).toEqual(['envoy.filters.listener.original_dst']);
    expect(config.clusters.find((c) => c.name === 'passthrough')).toEqual({
      name: 'passthrough',
      type: 'ORIGINAL_DST',
      lb_policy: 'CLUSTER_PROVIDED',
      connect_timeout: '5s',
    });
    // Anything not in the mesh goes where the app sent it.
    expect(JSON.stringify(capture?.default_filter_chain)).toContain('"cluster":"passthrough"');
  });

  it('sends a TCP service’s port to its cluster, and HTTP service ports to the Host-routed outbound routes', () => {
    const chains = capture?.filter_chains ?? [];
    const byPort = new Map(chains.map((c) => [c.filter_chain_match?.destination_port, c]));
    const tcp = byPort.get(5432);
    expect(tcp?.filters?.[0]?.name).toBe('envoy.filters.network.tcp_proxy');
    expect(JSON.stringify(tcp)).toContain('"cluster":"postgres.data:5432"');
    // Matched on the service's cluster IP: connections to other addresses on 5432 pass through.
    expect(tcp?.filter_chain_match?.prefix_ranges).toEqual([{ address_prefix: '10.96.0.20', prefix_len: 32 }]);
    const httpPorts = [...new Set([...model.services.values()].flatMap((s) => s.ports.filter((p) => p.protocol !== 'TCP').map((p) => p.port)))];
    expect(httpPorts.length).toBeGreaterThan(0);
    for (const port of httpPorts) {
      const chain = byPort.get(port);
      expect(chain?.filters?.[0]?.name).toBe('envoy.filters.network.http_connection_manager');
      // The same route configuration as the explicit listener (outbound:15081).
      expect(JSON.stringify(chain)).toContain('"route_config_name":"outbound:15081"');
    }
    expect(chains).toHaveLength(httpPorts.length + 1);
    // The explicit listener stays, on its own port.
    expect(config.listeners.map((l) => l.name)).toContain('outbound:15081');
  });

  it('never lets a service of another namespace take a port: TCP is captured by cluster IP, port-only only in the proxy’s own namespace', () => {
    const tcp = (namespace: string, name: string, port: number, addresses?: string[]): MeshService => ({
      namespace,
      name,
      ports: [{ name: 'tcp', port, protocol: 'TCP' }],
      ...(addresses ? { addresses } : {}),
      endpoints: [{ address: '10.1.0.9', ports: { tcp: port }, locality: {}, health: 'Healthy' }],
      failover: { localityPriority: ['zone', 'region'] },
      loadBalancing: 'RoundRobin',
      connectTimeoutMs: 1000,
    });
    const http = { ...tcp('shop', 'payments', 80, ['10.96.0.30']), ports: [{ name: 'http', port: 80, protocol: 'HTTP' as const }] };
    const services = [
      // In every cluster: a TCP service ("https" port) on 443.
      tcp('default', 'kubernetes', 443, ['10.96.0.1']),
      http,
      tcp('shop', 'db', 5432, ['10.96.0.40', 'fd00::40']),
      // Sorted first by name, and trying to take 80 and 5432 from everyone.
      tcp('aaa-attacker', 'x', 80, ['10.96.0.99']),
      tcp('aaa-attacker', 'y', 5432, ['10.96.0.98']),
      // Headless (no cluster IP): captured by port only in its own namespace.
      tcp('aaa-attacker', 'headless', 5432),
      tcp('shop', 'cache', 6379),
    ];
    const mesh: MeshModel = { services: new Map(services.map((service) => [`${service.namespace}/${service.name}`, service])), routes: [] };
    const table = (namespace: string) => {
      const proxy = sidecar({ 'meshcp.namespace': namespace, 'meshcp.capture_port': 15001, 'meshcp.outbound_port': 15081 });
      return chainTable(translateEnvoyConfig(mesh, proxy, envoyProfile(proxy)).listeners.find((l) => l.name === 'capture:15001'));
    };
    expect(table('shop')).toEqual([
      '10.96.0.99/32:80 → x.aaa-attacker:80',
      '10.96.0.1/32:443 → kubernetes.default:443',
      '10.96.0.40/32:5432 → db.shop:5432',
      '10.96.0.98/32:5432 → y.aaa-attacker:5432',
      'fd00::40/128:5432 → db.shop:5432',
      '*:6379 → cache.shop:6379',
      '*:80 → http routes',
    ]);
    // Explicit mode (no capture): the local listener for port 5432 is the proxy's own namespace's service.
    const explicit = (namespace: string) => {
      const proxy = sidecar({ 'meshcp.namespace': namespace, 'meshcp.outbound_port': 15081, 'meshcp.tcp_port_offset': 20000 });
      const listener = translateEnvoyConfig(mesh, proxy, envoyProfile(proxy)).listeners.find((l) => l.name === 'outbound-tcp:25432');
      return (listener?.filter_chains?.[0]?.filters?.[0]?.typed_config as { cluster?: string } | undefined)?.cluster;
    };
    expect(explicit('shop')).toBe('db.shop:5432');
    expect(explicit('aaa-attacker')).toBe('headless.aaa-attacker:5432');
    // The attacker's own pods: its headless service takes 5432 by port, for them alone.
    expect(table('aaa-attacker')).toContain('*:5432 → headless.aaa-attacker:5432');
    expect(table('aaa-attacker')).not.toContain('*:6379 → cache.shop:6379');
  });

  it('is absent for a proxy that is not captured, and captured proxies get their own config variant', () => {
    const plain = sidecar({});
    const plainConfig = translateEnvoyConfig(model, plain, envoyProfile(plain));
    expect(plainConfig.listeners.map((l) => l.name).filter((n) => n.startsWith('capture:'))).toEqual([]);
    expect(plainConfig.clusters.map((c) => c.name)).not.toContain('passthrough');
    expect(envoyConfigScopeKey(captured)).not.toBe(envoyConfigScopeKey({ ...captured, capturePort: undefined }));
  });
});
