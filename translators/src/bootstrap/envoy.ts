/**
 * `meshcp bootstrap`: an Envoy bootstrap that points the proxy's ADS stream at meshcp.
 * Pure (options in, bootstrap object out) so the CLI and a Kubernetes sidecar injector
 * share it without importing the server.
 */
import { grpcServerCluster } from '../envoy/cluster.js';
import { RE2_MAX_PROGRAM_SIZE } from '../model/re2.js';
import { METADATA } from '../proxy.js';
import { UPSTREAM_TLS_CONTEXT } from '../type-urls.js';
import { type BootstrapOptions, localityOf, type XdsClientSecurity } from './options.js';

export const XDS_CLUSTER = 'meshcp-xds';

/**
 * Envoy's runtime, in layers (later layers win): a static layer with meshcp's settings,
 * then the admin layer so an operator can still change a key at /runtime_modify.
 * `re2.max_program_size.error_level` defaults to 100 RE2 instructions, which a path regex
 * as plain as `^/api/v[0-9]+/users/[a-z0-9-]{1,64}/items$` (274) exceeds; Envoy would
 * refuse the whole RouteConfiguration. It is raised to the bound meshcp's manifest
 * validation checks every regex against (Istio's bootstrap does the same).
 */
export function bootstrapRuntime(): Record<string, unknown> {
  return {
    layers: [
      { name: 'meshcp-static', static_layer: { 're2.max_program_size.error_level': RE2_MAX_PROGRAM_SIZE } },
      { name: 'admin', admin_layer: {} },
    ],
  };
}

export function envoyBootstrap(options: BootstrapOptions): Record<string, unknown> {
  const at = options.xdsAddress.lastIndexOf(':');
  const host = options.xdsAddress.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(options.xdsAddress.slice(at + 1));
  const isIp = /^[\d.]+$|:/.test(host);
  const metadata: Record<string, unknown> = { [METADATA.namespace]: options.namespace, [METADATA.service]: options.service };
  if (options.outboundPort !== undefined) metadata[METADATA.outboundPort] = options.outboundPort;
  if (options.inboundPort !== undefined) metadata[METADATA.inboundPort] = options.inboundPort;
  if (options.appPort !== undefined) metadata[METADATA.appPort] = options.appPort;
  if (options.tcpPortOffset !== undefined) metadata[METADATA.tcpPortOffset] = options.tcpPortOffset;
  if (options.serviceAccount !== undefined) metadata[METADATA.serviceAccount] = options.serviceAccount;
  const security = options.security;
  const grpcService: Record<string, unknown> = security?.tokenFile
    ? googleGrpcWithTokenFile(options.xdsAddress, security.caFile, security.tokenFile, security.serverName)
    : { envoy_grpc: { cluster_name: XDS_CLUSTER } };
  if (security?.token) grpcService.initial_metadata = [{ key: 'authorization', value: `Bearer ${security.token}` }];
  const locality = localityOf(options);
  const configSource = { ads: {}, resource_api_version: 'V3' };
  return {
    node: { id: options.nodeId, cluster: options.service, ...(Object.keys(locality).length > 0 ? { locality } : {}), metadata },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: options.adminPort } } },
    layered_runtime: bootstrapRuntime(),
    dynamic_resources: {
      ads_config: {
        api_type: options.delta ? 'DELTA_GRPC' : 'GRPC',
        transport_api_version: 'V3',
        set_node_on_first_message_only: true,
        grpc_services: [grpcService],
      },
      cds_config: configSource,
      lds_config: configSource,
    },
    static_resources: {
      clusters: [
        {
          ...grpcServerCluster(XDS_CLUSTER, host, port, isIp ? 'STATIC' : 'STRICT_DNS'),
          ...(security ? { transport_socket: xdsTransportSocket(security, host, isIp) } : {}),
        },
      ],
    },
  };
}

/** TLS to meshcp: the server's certificate must chain to the mesh bundle and name the xDS host; the client shows its SVID if it has one. */
function xdsTransportSocket(security: XdsClientSecurity, host: string, hostIsIp: boolean): Record<string, unknown> {
  const serverName = security.serverName ?? host;
  const nameIsIp = security.serverName ? /^[\d.]+$|:/.test(serverName) : hostIsIp;
  const commonTlsContext: Record<string, unknown> = {
    // gRPC over TLS negotiates HTTP/2 with ALPN.
    alpn_protocols: ['h2'],
    validation_context: {
      trusted_ca: { filename: security.caFile },
      match_typed_subject_alt_names: [{ san_type: nameIsIp ? 'IP_ADDRESS' : 'DNS', matcher: { exact: serverName } }],
    },
  };
  if (security.certFile && security.keyFile) {
    commonTlsContext.tls_certificates = [{ certificate_chain: { filename: security.certFile }, private_key: { filename: security.keyFile } }];
  }
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': UPSTREAM_TLS_CONTEXT,
      ...(nameIsIp ? {} : { sni: serverName }),
      common_tls_context: commonTlsContext,
    },
  };
}

/**
 * A token that rotates (a projected ServiceAccount token) cannot be a static header:
 * Envoy's Google gRPC client reads it from the file with the file-based metadata
 * credentials plugin, over TLS with the mesh bundle.
 */
function googleGrpcWithTokenFile(target: string, caFile: string, tokenFile: string, serverName?: string): Record<string, unknown> {
  return {
    google_grpc: {
      target_uri: target,
      stat_prefix: XDS_CLUSTER,
      // The factory that understands the plugin below (the default one ignores it).
      credentials_factory_name: 'envoy.grpc_credentials.file_based_metadata',
      channel_credentials: { ssl_credentials: { root_certs: { filename: caFile } } },
      call_credentials: [
        {
          from_plugin: {
            name: 'envoy.grpc_credentials.file_based_metadata',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.config.grpc_credential.v3.FileBasedMetadataConfig',
              secret_data: { filename: tokenFile },
              header_key: 'authorization',
              header_prefix: 'Bearer ',
            },
          },
        },
      ],
      ...(serverName ? { channel_args: { args: { 'grpc.ssl_target_name_override': { string_value: serverName } } } } : {}),
    },
  };
}
