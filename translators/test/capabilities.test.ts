import { describe, expect, it } from 'vitest';
import { ENVOY_CAPABILITIES, envoyProfile, parseVersion, proxyFromNode } from '../src/index.js';

describe('Envoy capability table', () => {
  it('has well-formed rows with a source each', () => {
    for (const row of ENVOY_CAPABILITIES) {
      expect(parseVersion(row.since), row.feature).toBeDefined();
      expect(row.source.length, row.feature).toBeGreaterThan(10);
    }
    expect(new Set(ENVOY_CAPABILITIES.map((r) => r.feature)).size).toBe(ENVOY_CAPABILITIES.length);
  });

  it('profiles share across versions without a boundary between them', () => {
    const profile = (v: string) => envoyProfile({ version: parseVersion(v), versionText: v, extensions: [] });
    expect(profile('1.37.0').name).toBe(profile('1.38.3').name);
    expect(profile('1.36.4').name).not.toBe(profile('1.37.0').name);
    expect(profile('1.36.4').features.has('route.pathRewrite')).toBe(false);
    expect(profile('1.37.0').features.has('route.pathRewrite')).toBe(true);
  });

  it('falls back to a conservative profile with a warning for unknown versions', () => {
    const unknown = envoyProfile({ version: undefined, versionText: 'banana', extensions: [] });
    expect(unknown.warnings[0]).toContain('banana');
    // Only what every supported version has (the OpenTelemetry tracer); nothing newer.
    expect([...unknown.features]).toEqual(['tracing.openTelemetry']);
  });

  it('lets node.extensions rule out an extension the version would have', () => {
    const full = envoyProfile({ version: parseVersion('1.40.0'), versionText: '1.40.0', extensions: [] });
    const trimmed = envoyProfile({ version: parseVersion('1.40.0'), versionText: '1.40.0', extensions: ['envoy.filters.http.router'] });
    expect(full.features.has('cluster.dnsClusterExtension')).toBe(true);
    expect(trimmed.features.has('cluster.dnsClusterExtension')).toBe(false);
    expect(trimmed.name).not.toBe(full.name);
  });

  it('reads client kind and version from the node', () => {
    expect(
      proxyFromNode({ id: 'a', user_agent_name: 'envoy', user_agent_build_version: { version: { major_number: 1, minor_number: 39, patch: 0 } } }),
    ).toMatchObject({ clientKind: 'envoy', version: { major: 1, minor: 39, patch: 0 } });
    expect(proxyFromNode({ id: 'b', user_agent_name: 'gRPC Node Pure JS', user_agent_version: '1.14.1' })).toMatchObject({
      clientKind: 'grpc-node',
      version: { major: 1, minor: 14, patch: 1 },
    });
  });
});
