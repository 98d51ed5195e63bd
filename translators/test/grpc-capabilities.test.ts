/**
 * The gRPC capability tables: node parsing per implementation (C-core's
 * "C-core 58.0.0 Python 1.85.1"), profiles by version, locality weights for every
 * gRPC client kind, honest degraded entries, and the README table kept in sync.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  GRPC_CAPABILITIES,
  GRPC_COMMON_SUBSET,
  type GrpcImplementation,
  grpcDegraded,
  grpcProfile,
  grpcSupportTable,
  grpcUsableEndpoints,
  type MeshModel,
  parseManifests,
  proxyFromNode,
  SUPPORT_TABLE_BEGIN,
  SUPPORT_TABLE_END,
  translateGrpcConfig,
  translateGrpcEndpoints,
} from '../src/index.js';

/** What real clients sent as user_agent_name / user_agent_version (captured from grpc-go 1.85.0, grpcio 1.85.1, grpc-java 1.85.1, grpc-js-xds 1.14.1). */
const NODES = {
  go: { user_agent_name: 'gRPC Go', user_agent_version: '1.85.0' },
  python: { user_agent_name: 'gRPC C-core', user_agent_version: 'C-core 58.0.0 Python 1.85.1' },
  java: { user_agent_name: 'gRPC Java', user_agent_version: '1.85.1' },
  node: { user_agent_name: 'gRPC Node Pure JS', user_agent_version: '1.14.1' },
};

function profileOf(node: { user_agent_name: string; user_agent_version: string }) {
  return grpcProfile(proxyFromNode({ id: 'n', ...node, locality: { region: 'eu', zone: 'eu-1a' } }));
}

function model(yaml: string): MeshModel {
  const { model, errors } = parseManifests(parseAllDocuments(yaml).map((d) => ({ source: 'test.yaml', doc: d.toJS() as unknown })));
  expect(errors).toEqual([]);
  expect(model.services.size).toBeGreaterThan(0);
  return model;
}

const SPLIT = `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: echo, namespace: shop}
spec:
  ports: [{name: grpc, port: 50051, protocol: GRPC}]
  endpoints: [{address: 10.0.0.1, port: 50051, locality: {region: eu, zone: eu-1a}}, {address: 10.0.0.2, port: 50051, locality: {region: eu, zone: eu-1b}}]
---
apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: echo-v2, namespace: shop}
spec:
  ports: [{name: grpc, port: 50051, protocol: GRPC}]
  endpoints: [{address: 10.0.0.3, port: 50051, locality: {region: eu, zone: eu-1a}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: split, namespace: shop}
spec:
  parentRefs: [{kind: Service, name: echo}]
  rules:
    - timeouts: {request: 2s}
      retry: {attempts: 2, codes: [503]}
      backendRefs: [{name: echo, port: 50051, weight: 75}, {name: echo-v2, port: 50051, weight: 25}]
`;

describe('gRPC capability tables', () => {
  it('reads kind and release version from real nodes, C-core by its wrapping language', () => {
    expect(proxyFromNode({ id: 'p', ...NODES.python })).toMatchObject({ clientKind: 'grpc-python', version: { major: 1, minor: 85, patch: 1 } });
    expect(profileOf(NODES.python).name).toBe('grpc-core-python-1.51+-no-certificates');
    expect(profileOf(NODES.go)).toMatchObject({ implementation: 'grpc-go', name: 'grpc-go-1.50+-no-certificates' });
    expect(profileOf(NODES.java)).toMatchObject({ implementation: 'grpc-java', name: 'grpc-java-1.49+-no-certificates' });
    expect(profileOf(NODES.node)).toMatchObject({ implementation: 'grpc-node', name: 'grpc-node-1.10+' });
    expect(profileOf({ user_agent_name: 'gRPC C-core', user_agent_version: 'C-core 58.0.0 Ruby 1.85.1' })).toMatchObject({ language: 'ruby' });
  });

  it('takes each row at its first version per implementation, and C-core languages the doc leaves out', () => {
    const go = (v: string) => profileOf({ user_agent_name: 'gRPC Go', user_agent_version: v });
    expect(go('1.40.0').features.has('route.retryPolicy')).toBe(false);
    expect(go('1.41.0').features.has('route.retryPolicy')).toBe(true);
    expect(go('1.49.0').features.has('cluster.outlierDetection')).toBe(false);
    expect(go('1.50.0').features.has('cluster.outlierDetection')).toBe(true);
    expect(go('1.40.0').name).not.toBe(go('1.41.0').name);
    const ruby = profileOf({ user_agent_name: 'gRPC C-core', user_agent_version: 'C-core 58.0.0 Ruby 1.85.1' });
    expect(ruby.features.has('route.retryPolicy')).toBe(false);
    expect(ruby.features.has('route.weightedClusters')).toBe(true);
    const php = profileOf({ user_agent_name: 'gRPC C-core', user_agent_version: 'C-core 58.0.0 PHP 1.85.1' });
    expect(php.features.has('cluster.circuitBreakers')).toBe(false);
    // Measured broken in C-core (compat-matrix grpc-timeout): never sent to it.
    expect(profileOf(NODES.python).features.has('route.maxStreamDuration')).toBe(false);
    expect(profileOf(NODES.java).features.has('route.maxStreamDuration')).toBe(true);
  });

  it('every row names a gRFC, a source and a first version for each of the four implementations (or says it has none)', () => {
    const implementations: GrpcImplementation[] = ['grpc-core', 'grpc-java', 'grpc-go', 'grpc-node'];
    for (const row of GRPC_CAPABILITIES) {
      expect(row.grfc, row.feature).toMatch(/^A\d+$/);
      expect(row.source, row.feature).toContain('grpc_xds_features.md');
      for (const impl of implementations) {
        if (row.notImplementedBy?.includes(impl)) expect(row.since[impl], `${row.feature} ${impl}`).toBeUndefined();
        else expect(row.since[impl], `${row.feature} ${impl}`).toMatch(/^\d+\.\d+\.\d+$/);
      }
    }
    expect(new Set(GRPC_CAPABILITIES.map((r) => r.feature)).size).toBe(GRPC_CAPABILITIES.length);
  });

  it('an unknown gRPC language gets the proven common subset, with a warning', () => {
    const rust = profileOf({ user_agent_name: 'gRPC Rust', user_agent_version: '0.9.0' });
    expect(rust.implementation).toBeUndefined();
    expect([...rust.features].sort()).toEqual([...GRPC_COMMON_SUBSET].sort());
    expect(GRPC_COMMON_SUBSET).toContain('route.weightedClusters');
    expect(GRPC_COMMON_SUBSET).not.toContain('route.maxStreamDuration');
    expect(rust.warnings.join()).toContain('not a gRPC xDS implementation');
  });

  it('gives every EDS locality a weight for every gRPC client kind, known or not', () => {
    const m = model(SPLIT);
    for (const node of [...Object.values(NODES), { user_agent_name: 'gRPC Rust', user_agent_version: '0.9.0' }]) {
      const proxy = proxyFromNode({ id: 'n', ...node, locality: { region: 'eu', zone: 'eu-1a' } });
      const cla = translateGrpcEndpoints(m, 'echo.shop:50051', proxy.locality);
      expect(cla?.endpoints?.length, node.user_agent_name).toBe(2);
      for (const locality of cla?.endpoints ?? []) expect(locality.load_balancing_weight, node.user_agent_name).toBeGreaterThan(0);
      expect(grpcUsableEndpoints(cla ?? {})).toBe(2);
    }
  });

  it('counts no usable endpoint once locality weights are gone (what gRPC does, gRFC A27)', () => {
    const cla = translateGrpcEndpoints(model(SPLIT), 'echo.shop:50051', {}) ?? {};
    for (const locality of cla.endpoints ?? []) delete locality.load_balancing_weight;
    expect(grpcUsableEndpoints(cla)).toBe(0);
  });

  it('lists what a client will not do per object and field, and clusters without usable endpoints', () => {
    const m = model(SPLIT);
    expect(grpcDegraded(m, profileOf(NODES.java))).toEqual([]);
    const python = grpcDegraded(m, profileOf(NODES.python));
    expect(python).toEqual([expect.stringMatching(/^shop\/split\/rule\/0: timeouts\.request \(not sent to grpc-core: /)]);
    const old = grpcDegraded(m, profileOf({ user_agent_name: 'gRPC Go', user_agent_version: '1.37.0' }));
    expect(old).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^shop\/split\/rule\/0: retry \(needs grpc-go 1\.41\.0\+ \(gRFC A44\)\)$/),
        expect.stringMatching(/^shop\/split\/rule\/0: backendRefs \(grpc-go when a route shifts traffic/),
      ]),
    );
    const config = translateGrpcConfig(m, profileOf(NODES.python));
    expect(JSON.stringify(config.routes)).not.toContain('max_stream_duration');
    const empty = model(SPLIT.replace(/endpoints: \[\{address: 10\.0\.0\.3.*\}\]/, 'endpoints: []'));
    expect(grpcDegraded(empty, profileOf(NODES.go))).toContain('echo-v2.shop:50051: no usable endpoints (0 listed, none healthy): RPCs fail UNAVAILABLE');
    const weighted = model(
      SPLIT.replace(
        '{address: 10.0.0.2, port: 50051, locality: {region: eu, zone: eu-1b}}',
        '{address: 10.0.0.2, port: 50051, weight: 3, locality: {region: eu, zone: eu-1a}}',
      ),
    );
    expect(grpcDegraded(weighted, profileOf(NODES.java))).toEqual([expect.stringMatching(/^echo\.shop:50051: endpoints\[\]\.weight within a locality/)]);
  });

  it('the README carries the per-language support table generated from the tables', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    const start = readme.indexOf(SUPPORT_TABLE_BEGIN);
    const end = readme.indexOf(SUPPORT_TABLE_END);
    expect(start, 'README lacks the generated table: paste grpcSupportTable() output').toBeGreaterThan(-1);
    expect(readme.slice(start, end + SUPPORT_TABLE_END.length)).toBe(grpcSupportTable());
  });
});
