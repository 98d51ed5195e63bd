/**
 * MeshConfig spec.tracing: the kind's field-path errors, its one-per-mesh rule, and
 * what the tracing feature puts in every sidecar (and leaves out where it cannot).
 */
import { describe, expect, it } from 'vitest';
import { envoyProfile, parseManifests, parseVersion, proxyFromNode, tracingFromFlags, translateEnvoyConfig, translationFor } from '../src/index.js';

const meshConfig = (spec: unknown, name = 'mesh') => ({ apiVersion: 'meshcp.io/v1alpha1', kind: 'MeshConfig', metadata: { name }, spec });
const web = {
  apiVersion: 'meshcp.io/v1alpha1',
  kind: 'MeshService',
  metadata: { name: 'web', namespace: 'shop' },
  spec: { ports: [{ name: 'http', port: 8080 }], endpoints: [{ address: '10.0.0.1' }] },
};
const parse = (...docs: unknown[]) => parseManifests(docs.map((doc) => ({ source: 'mesh/tracing.yaml', doc })));

function sidecar(service: string, extensions: string[] = []) {
  const proxy = proxyFromNode({
    id: `${service}-1`,
    user_agent_name: 'envoy',
    user_agent_build_version: { version: { major_number: 1, minor_number: 40, patch: 0 } },
    extensions: extensions.map((name) => ({ name })),
    metadata: { 'meshcp.namespace': 'shop', 'meshcp.service': service, 'meshcp.inbound_port': 15006, 'meshcp.app_port': 8080 },
  });
  return { proxy, profile: envoyProfile(proxy) };
}

describe('MeshConfig kind', () => {
  it('reads spec.tracing; samplingPercent defaults to 1', () => {
    const result = parse(meshConfig({ tracing: { collector: { address: 'otel.observability', port: 4317 } } }), web);
    expect(result.errors).toEqual([]);
    expect(result.model.settings).toEqual({ tracing: { collector: { address: 'otel.observability', port: 4317 }, samplingPercent: 1 } });
    expect(result.accepted).toContain('MeshConfig mesh');
  });

  it('reports bad fields by path and leaves the settings out', () => {
    const cases: [unknown, string, string][] = [
      [{ tracing: { collector: { address: 'otel', port: 70000 } } }, 'spec.tracing.collector.port', 'must be 1-65535, got 70000'],
      [{ tracing: { collector: { address: 'not a host!', port: 4317 } } }, 'spec.tracing.collector.address', 'must be an IP address or hostname'],
      [{ tracing: { collector: { address: 'otel', port: 4317 }, samplingPercent: 101 } }, 'spec.tracing.samplingPercent', 'must be a number 0-100, got 101'],
      [{ tracing: { collector: { address: 'otel', port: 4317 }, samplingPercent: '50' } }, 'spec.tracing.samplingPercent', 'must be a number 0-100, got "50"'],
      [{ tracing: { samplingPercent: 5 } }, 'spec.tracing.collector', 'must be an object, got nothing'],
      [{ tracing: 'on' }, 'spec.tracing', 'must be an object, got "on"'],
    ];
    for (const [spec, path, message] of cases) {
      const result = parse(meshConfig(spec), web);
      expect(result.errors, path).toEqual([
        expect.objectContaining({ source: 'mesh/tracing.yaml', object: 'MeshConfig mesh', path, message: expect.stringContaining(message) }),
      ]);
      expect(result.model.settings, path).toBeUndefined();
      expect(result.model.services.size, 'the service next to it still counts').toBe(1);
    }
  });

  it('a second MeshConfig is a conflict; the first keeps serving', () => {
    const first = meshConfig({ tracing: { collector: { address: '10.0.0.9', port: 4317 }, samplingPercent: 10 } }, 'mesh');
    const second = meshConfig({ tracing: { collector: { address: '10.0.0.8', port: 4317 } } }, 'other');
    const result = parse(first, second);
    expect(result.errors).toEqual([expect.objectContaining({ object: 'MeshConfig other', path: 'metadata.name', reason: 'conflict' })]);
    expect(result.errors[0]?.message).toContain('MeshConfig mesh');
    expect(result.model.settings?.tracing?.collector.address).toBe('10.0.0.9');
  });
});

describe('tracing from serve flags (the chart values)', () => {
  it('HOST:PORT and a percent, validated as MeshConfig fields', () => {
    expect(tracingFromFlags('otel.observability.svc.cluster.local:4317', '12.5').settings).toEqual({
      tracing: { collector: { address: 'otel.observability.svc.cluster.local', port: 4317 }, samplingPercent: 12.5 },
    });
    expect(tracingFromFlags('[::1]:4317').settings?.tracing?.collector).toEqual({ address: '::1', port: 4317 });
    expect(tracingFromFlags('otel').errors).toEqual([expect.objectContaining({ path: 'spec.tracing.collector.port' })]);
    expect(tracingFromFlags('otel:4317', 'lots').errors).toEqual([expect.objectContaining({ path: 'spec.tracing.samplingPercent' })]);
  });
});

describe('tracing feature', () => {
  const model = parse(meshConfig({ tracing: { collector: { address: '127.0.0.1', port: 4317 }, samplingPercent: 100 } }), web).model;

  it("traces every HTTP connection manager, named for the proxy's own service, to one static collector cluster", () => {
    const { proxy, profile } = sidecar('web');
    const config = translateEnvoyConfig(model, proxy, profile);
    const text = JSON.stringify(config.listeners);
    expect(text.match(/"envoy\.tracers\.opentelemetry"/g)).toHaveLength(2); // outbound and inbound
    expect(text).toContain('"service_name":"web.shop"');
    expect(text).toContain('"random_sampling":{"value":100}');
    const collector = config.clusters.find((c) => c.name === 'meshcp-tracing-collector');
    expect(collector).toMatchObject({
      type: 'STATIC',
      load_assignment: { endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 4317 } } } }] }] },
    });
  });

  it('two services of one namespace get different config variants (their spans carry different names)', () => {
    expect(translationFor(sidecar('web').proxy).configKey).not.toBe(translationFor(sidecar('payments').proxy).configKey);
  });

  it('without MeshConfig nothing is traced', () => {
    const { proxy, profile } = sidecar('web');
    const plain = parse(web).model;
    const config = translateEnvoyConfig(plain, proxy, profile);
    expect(JSON.stringify(config)).not.toContain('tracing');
  });

  it('an Envoy build without the OpenTelemetry tracer gets no tracing and lists it as degraded', () => {
    const { proxy, profile } = sidecar('web', ['envoy.filters.http.router', 'envoy.filters.network.http_connection_manager']);
    expect(profile.features.has('tracing.openTelemetry')).toBe(false);
    const translation = translationFor(proxy);
    const config = translation.config(model);
    expect(JSON.stringify(config.listeners)).not.toContain('tracers');
    expect(config.clusters.some((c) => c.name === 'meshcp-tracing-collector')).toBe(false);
    expect(config.degraded).toEqual([expect.stringContaining('envoy.tracers.opentelemetry')]);
  });

  it('every supported Envoy version has the tracer (the row starts at the conservative version)', () => {
    for (const version of ['1.32.0', '1.36.4', '1.40.0'])
      expect(envoyProfile({ version: parseVersion(version), versionText: version, extensions: [] }).features.has('tracing.openTelemetry'), version).toBe(true);
  });

  it('proxyless gRPC lists tracing as degraded', () => {
    const grpc = proxyFromNode({ id: 'g', user_agent_name: 'gRPC Go', user_agent_version: '1.85.0', metadata: { 'meshcp.namespace': 'shop' } });
    expect(translationFor(grpc).config(model).degraded).toContainEqual(expect.stringContaining('proxyless gRPC takes no tracing configuration'));
  });
});
