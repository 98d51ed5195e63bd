/**
 * The transparent-capture translator feature (translators/src/envoy/features/
 * transparent-capture.ts) without a cluster: what a captured sidecar's capture
 * listener holds, and that nothing changes for a proxy that is not captured.
 * cluster-e2e.test.ts drives the same listener with real traffic.
 */
import { describe, expect, it } from 'vitest';
import { envoyConfigScopeKey, envoyProfile, proxyFromNode, translateEnvoyConfig } from '../../translators/src/index.js';
import { loadFixture } from '../../translators/test/fixtures.js';

function sidecar(metadata: Record<string, unknown>) {
  return proxyFromNode({
    id: 'web-1.shop',
    user_agent_name: 'envoy',
    user_agent_build_version: { version: { major_number: 1, minor_number: 40, patch: 0 } },
    metadata: { 'meshcp.namespace': 'shop', 'meshcp.service': 'web', ...metadata },
  });
}

describe('transparent capture', () => {
  const model = loadFixture('cluster-policies');
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

  it('is absent for a proxy that is not captured, and captured proxies get their own config variant', () => {
    const plain = sidecar({});
    const plainConfig = translateEnvoyConfig(model, plain, envoyProfile(plain));
    expect(plainConfig.listeners.map((l) => l.name).filter((n) => n.startsWith('capture:'))).toEqual([]);
    expect(plainConfig.clusters.map((c) => c.name)).not.toContain('passthrough');
    expect(envoyConfigScopeKey(captured)).not.toBe(envoyConfigScopeKey({ ...captured, capturePort: undefined }));
  });
});
