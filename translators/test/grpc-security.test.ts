/**
 * Mesh mTLS for proxyless gRPC (gRFC A29): what a client with the capability is sent
 * (TLS clusters naming the bootstrap's certificate provider, server listeners), and
 * that a client without it never gets a plaintext path to a STRICT service.
 */
import { type DownstreamTlsContext, loadEnvoyApi, type UpstreamTlsContext, validateResource } from '@meshcp/xds-protos';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  GRPC_CERTIFICATE_PROVIDER,
  GRPC_SERVER_LISTENER_TEMPLATE,
  grpcBootstrap,
  grpcDegraded,
  grpcProfile,
  type MeshModel,
  parseManifests,
  proxyFromNode,
  translateGrpcConfig,
} from '../src/index.js';

// Clients whose bootstrap defines meshcp's certificate provider (meshcp bootstrap --workload-cert-dir).
const profile = (name: string, version: string, certificateProvider = true) =>
  grpcProfile(
    proxyFromNode({
      id: 'n',
      user_agent_name: name,
      user_agent_version: version,
      locality: {},
      metadata: certificateProvider ? { 'meshcp.certificate_provider': 'true' } : {},
    }),
  );
const GO = profile('gRPC Go', '1.85.0');
const OLD_GO = profile('gRPC Go', '1.40.0');
const NODE = profile('gRPC Node Pure JS', '1.14.1');
const GO_141 = profile('gRPC Go', '1.41.0');
const RUBY = profile('gRPC C-core', 'C-core 58.0.0 Ruby 1.85.1');
const GO_WITHOUT_CERTIFICATES = profile('gRPC Go', '1.85.0', false);

function model(): MeshModel {
  const yaml = `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: echo, namespace: shop}
spec:
  serviceAccount: echo
  mtls: {mode: STRICT}
  ports: [{name: grpc, port: 50051, protocol: GRPC}]
  endpoints: [{address: 10.0.0.1, port: 50051, locality: {region: eu, zone: eu-1a}}]
---
apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: plain, namespace: shop}
spec:
  ports: [{name: grpc, port: 50051, protocol: GRPC}]
  endpoints: [{address: 10.0.0.2, port: 50051, locality: {region: eu, zone: eu-1a}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: split, namespace: shop}
spec:
  parentRefs: [{name: plain}]
  rules:
    - backendRefs: [{name: plain, port: 50051, weight: 50}, {name: echo, port: 50051, weight: 50}]
---
apiVersion: meshcp.io/v1alpha1
kind: MeshAccessPolicy
metadata: {name: echo-callers, namespace: shop}
spec:
  targetRef: {kind: MeshService, name: echo}
  rules:
    - from: [{serviceAccounts: [shop/web]}]
    - from: [{namespaces: [ops]}]
      to: {paths: [/grpc.health.v1.Health/], methods: [GET]}
`;
  const { model, errors } = parseManifests(parseAllDocuments(yaml).map((d) => ({ source: 't.yaml', doc: d.toJS() as unknown })));
  expect(errors).toEqual([]);
  return model;
}

describe('proxyless gRPC mesh mTLS (gRFC A29)', () => {
  it('a capable client gets an UpstreamTlsContext from the bootstrap provider, checking the service identity', () => {
    const config = translateGrpcConfig(model(), GO, 'shop');
    const echo = config.clusters.find((c) => c.name === 'echo.shop:50051');
    const tls = echo?.transport_socket?.typed_config as UpstreamTlsContext & { '@type': string };
    expect(tls['@type']).toContain('UpstreamTlsContext');
    expect(tls.common_tls_context?.tls_certificate_provider_instance?.instance_name).toBe(GRPC_CERTIFICATE_PROVIDER);
    const validation = tls.common_tls_context?.validation_context;
    expect(validation?.ca_certificate_provider_instance?.instance_name).toBe(GRPC_CERTIFICATE_PROVIDER);
    expect(validation?.match_subject_alt_names).toEqual([{ suffix: '/ns/shop/sa/echo' }]);
    // DISABLE stays plaintext.
    expect(config.clusters.find((c) => c.name === 'plain.shop:50051')?.transport_socket).toBeUndefined();
    expect(config.degraded.filter((d) => /mtls|A29/.test(d))).toEqual([]);
  });

  it('a capable version whose bootstrap has no certificate provider gets no TLS context (it would NACK it): STRICT left out, degraded', () => {
    expect(GO_WITHOUT_CERTIFICATES.name).toBe(`${GO.name}-no-certificates`);
    const config = translateGrpcConfig(model(), GO_WITHOUT_CERTIFICATES, 'shop');
    expect(config.clusters.map((c) => c.name)).not.toContain('echo.shop:50051');
    expect(config.clusters.every((c) => c.transport_socket === undefined)).toBe(true);
    expect(config.degraded.join('\n')).toMatch(/echo\.shop:50051: mtls STRICT, cluster not sent .*no meshcp certificate provider/);
  });

  it('every resource sent passes the same proto validation meshcp publishes through', () => {
    const api = loadEnvoyApi();
    // As a server of shop/echo: the wildcard Listeners (0.0.0.0 and ::) too.
    const config = translateGrpcConfig(model(), GO, 'shop', 'shop/echo');
    expect(config.listeners.filter((l) => /listening_address=(0\.0\.0\.0|\[::\]):/.test(l.name ?? ''))).toHaveLength(2);
    for (const listener of config.listeners) expect(validateResource(api, 'envoy.config.listener.v3.Listener', listener), listener.name).toEqual([]);
    for (const cluster of config.clusters) expect(validateResource(api, 'envoy.config.cluster.v3.Cluster', cluster), cluster.name).toEqual([]);
    for (const route of config.routes) expect(validateResource(api, 'envoy.config.route.v3.RouteConfiguration', route), route.name).toEqual([]);
  });

  it('a capable xDS-enabled server is served a Listener under the bootstrap template, mTLS required for STRICT', () => {
    const config = translateGrpcConfig(model(), GO, 'shop');
    const name = GRPC_SERVER_LISTENER_TEMPLATE.replace('%s', '10.0.0.1:50051');
    const listener = config.listeners.find((l) => l.name === name);
    expect(listener?.address?.socket_address).toEqual({ address: '10.0.0.1', port_value: 50051 });
    const chain = listener?.filter_chains?.[0];
    const tls = chain?.transport_socket?.typed_config as DownstreamTlsContext & { '@type': string };
    expect(tls['@type']).toContain('DownstreamTlsContext');
    expect(tls.require_client_certificate).toBe(true);
    const plain = config.listeners.find((l) => l.name === GRPC_SERVER_LISTENER_TEMPLATE.replace('%s', '10.0.0.2:50051'));
    expect(plain?.filter_chains?.[0]?.transport_socket).toBeUndefined();
  });

  it.each([
    ['grpc-node', NODE, 'grpc-node does not implement gRFC A29'],
    ['grpc-go 1.40', OLD_GO, 'needs grpc-go 1.41.0+ (gRFC A29)'],
    ['Ruby', RUBY, 'grpc-core (ruby) does not implement gRFC A29'],
  ])('%s: no cluster, route or server listener for the STRICT service, and it is listed degraded', (_, client, why) => {
    const config = translateGrpcConfig(model(), client, 'shop');
    expect(config.clusters.map((c) => c.name)).toEqual(['plain.shop:50051']);
    const names = config.routes
      .flatMap((r) => r.virtual_hosts ?? [])
      .flatMap((h) => h.routes ?? [])
      .flatMap((r) => [r.route?.cluster, ...(r.route?.weighted_clusters?.clusters ?? []).map((c) => c.name)]);
    expect(names).not.toContain('echo.shop:50051');
    expect(names).toContain('plain.shop:50051');
    expect(config.listeners.filter((l) => l.name?.startsWith('grpc/server'))).toEqual([]);
    const degraded = grpcDegraded(model(), client, 'shop');
    expect(degraded).toContain(`echo.shop:50051: mtls STRICT, cluster not sent so RPCs to it fail rather than go out in plaintext (${why})`);
    expect(degraded.some((d) => d.includes('backends echo.shop:50051 dropped from the split'))).toBe(true);
  });

  it('MeshAccessPolicy becomes an RBAC filter ahead of the router on the server listener (gRFC A41)', () => {
    const config = translateGrpcConfig(model(), GO, 'shop');
    const listener = config.listeners.find((l) => l.name === GRPC_SERVER_LISTENER_TEMPLATE.replace('%s', '10.0.0.1:50051'));
    const hcm = listener?.filter_chains?.[0]?.filters?.[0]?.typed_config as { http_filters: { name: string; typed_config: unknown }[] };
    expect(hcm.http_filters.map((f) => f.name)).toEqual(['envoy.filters.http.rbac', 'envoy.filters.http.router']);
    expect(hcm.http_filters[0]?.typed_config).toEqual({
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
      rules: {
        action: 'ALLOW',
        policies: {
          'shop/echo-callers/rule/0': {
            permissions: [{ any: true }],
            principals: [{ authenticated: { principal_name: { safe_regex: { regex: '^spiffe://[^/]+/ns/shop/sa/web$' } } } }],
          },
        },
      },
    });
    // A GET-only rule can never match a gRPC request (always POST): not sent, and said so.
    expect(config.degraded).toContain(
      'MeshAccessPolicy shop/echo-callers/rule/1: methods GET never match a gRPC request (always POST); the rule admits no RPC on gRPC servers',
    );
    // The unguarded service has no RBAC filter.
    const plain = config.listeners.find((l) => l.name === GRPC_SERVER_LISTENER_TEMPLATE.replace('%s', '10.0.0.2:50051'));
    const plainHcm = plain?.filter_chains?.[0]?.filters?.[0]?.typed_config as { http_filters: { name: string }[] };
    expect(plainHcm.http_filters.map((f) => f.name)).toEqual(['envoy.filters.http.router']);
  });

  it("a server on the wildcard (grpc-java names every server 0.0.0.0:PORT) gets its own service's Listener, with its mode and policy only", () => {
    const JAVA = profile('gRPC Java', '1.85.1');
    const wildcard = GRPC_SERVER_LISTENER_TEMPLATE.replace('%s', '0.0.0.0:50051');
    // echo's server: mTLS and echo's RBAC, at address 0.0.0.0 (grpc-java refuses a Listener whose address differs).
    const echo = translateGrpcConfig(model(), JAVA, 'shop', 'shop/echo').listeners.find((l) => l.name === wildcard);
    expect(echo?.address?.socket_address).toEqual({ address: '0.0.0.0', port_value: 50051 });
    expect((echo?.filter_chains?.[0]?.transport_socket?.typed_config as DownstreamTlsContext | undefined)?.require_client_certificate).toBe(true);
    const echoHcm = echo?.filter_chains?.[0]?.filters?.[0]?.typed_config as { http_filters: { name: string }[] };
    expect(echoHcm.http_filters.map((f) => f.name)).toEqual(['envoy.filters.http.rbac', 'envoy.filters.http.router']);
    // plain's server on the same port: plain's DISABLE mode and no policy, not echo's (the port alone does not say which service).
    const plain = translateGrpcConfig(model(), JAVA, 'shop', 'shop/plain').listeners.find((l) => l.name === wildcard);
    expect(plain?.filter_chains?.[0]?.transport_socket).toBeUndefined();
    const plainHcm = plain?.filter_chains?.[0]?.filters?.[0]?.typed_config as { http_filters: { name: string }[] };
    expect(plainHcm.http_filters.map((f) => f.name)).toEqual(['envoy.filters.http.router']);
    // A grpc-go server listening on `:PORT` names itself [::]:PORT: the same Listener at address ::.
    const v6 = translateGrpcConfig(model(), GO, 'shop', 'shop/echo').listeners.find(
      (l) => l.name === GRPC_SERVER_LISTENER_TEMPLATE.replace('%s', '[::]:50051'),
    );
    expect(v6?.address?.socket_address).toEqual({ address: '::', port_value: 50051 });
    // A workload of no service (a pure client) gets no wildcard Listener.
    expect(translateGrpcConfig(model(), JAVA, 'shop', 'shop/web').listeners.map((l) => l.name)).not.toContain(wildcard);
  });

  it('a server with mTLS but without A41 (grpc-go 1.41) is not sent a policy-guarded Listener: it would admit everyone', () => {
    const config = translateGrpcConfig(model(), GO_141, 'shop');
    const names = config.listeners.map((l) => l.name);
    expect(names).not.toContain(GRPC_SERVER_LISTENER_TEMPLATE.replace('%s', '10.0.0.1:50051'));
    expect(names).toContain(GRPC_SERVER_LISTENER_TEMPLATE.replace('%s', '10.0.0.2:50051'));
    expect(config.degraded).toContain(
      'grpc/server?xds.resource.listening_address=10.0.0.1:50051: not served (MeshAccessPolicy shop/echo-callers guards it; needs grpc-go 1.42.0+ (gRFC A41))',
    );
  });

  it('the bootstrap defines the file_watcher provider over the agent files and the server listener template', () => {
    const bootstrap = grpcBootstrap({ nodeId: 'n', service: 'echo', namespace: 'shop', xdsAddress: '127.0.0.1:1', workloadCertificateDir: '/var/run/meshcp/' });
    expect(bootstrap.server_listener_resource_name_template).toBe(GRPC_SERVER_LISTENER_TEMPLATE);
    expect(bootstrap.certificate_providers).toEqual({
      [GRPC_CERTIFICATE_PROVIDER]: {
        plugin_name: 'file_watcher',
        config: {
          certificate_file: '/var/run/meshcp/cert.pem',
          private_key_file: '/var/run/meshcp/key.pem',
          ca_certificate_file: '/var/run/meshcp/ca.pem',
          refresh_interval: '10s',
        },
      },
    });
    expect(grpcBootstrap({ nodeId: 'n', service: 'echo', namespace: 'shop', xdsAddress: '127.0.0.1:1' }).certificate_providers).toBeUndefined();
  });
});
