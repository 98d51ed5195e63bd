import { GRPC_CERTIFICATE_PROVIDER, GRPC_SERVER_LISTENER_TEMPLATE, WORKLOAD_FILES } from '../grpc/security.js';
import { METADATA } from '../proxy.js';
import { type BootstrapOptions, localityOf } from './options.js';

/** How often gRPC's file_watcher provider re-reads the workload files (`meshcp agent` rewrites them at half life). */
const CERTIFICATE_REFRESH = '10s';

/**
 * Mesh mTLS (gRFC A29): where the workload's certificate, key and trust bundle are, as
 * files in `workloadCertificateDir` (written by `meshcp agent`); the certificate
 * provider instance the clusters and server listeners name reads them.
 */
export interface GrpcWorkloadCertificates {
  workloadCertificateDir?: string;
}

/**
 * `meshcp bootstrap --grpc`: the gRPC xDS bootstrap JSON (GRPC_XDS_BOOTSTRAP /
 * GRPC_XDS_BOOTSTRAP_CONFIG). With security: `tls` channel credentials from files
 * (gRFC A65) and, where a token is used, `jwt_token_file` call credentials (gRFC A97);
 * implementations without them refuse the bootstrap rather than fall back to plaintext.
 */
export function grpcBootstrap(
  options: Pick<BootstrapOptions, 'nodeId' | 'service' | 'namespace' | 'region' | 'zone' | 'subZone' | 'xdsAddress' | 'serviceAccount' | 'security'> &
    GrpcWorkloadCertificates,
): Record<string, unknown> {
  const dir = options.workloadCertificateDir?.replace(/\/+$/, '');
  const locality = localityOf(options);
  const security = options.security;
  const channelCreds = security
    ? [
        {
          type: 'tls',
          config: {
            ca_certificate_file: security.caFile,
            ...(security.certFile && security.keyFile ? { certificate_file: security.certFile, private_key_file: security.keyFile } : {}),
          },
        },
      ]
    : [{ type: 'insecure' }];
  const metadata: Record<string, string> = { [METADATA.namespace]: options.namespace, [METADATA.service]: options.service };
  if (options.serviceAccount) metadata[METADATA.serviceAccount] = options.serviceAccount;
  // Tells meshcp this client can present and verify mesh certificates (else it gets no TLS context it would NACK).
  if (dir) metadata[METADATA.certificateProvider] = 'true';
  return {
    xds_servers: [
      {
        server_uri: options.xdsAddress,
        channel_creds: channelCreds,
        ...(security?.tokenFile ? { call_creds: [{ type: 'jwt_token_file', config: { jwt_token_file: security.tokenFile } }] } : {}),
        server_features: ['xds_v3'],
      },
    ],
    node: {
      id: options.nodeId,
      cluster: options.service,
      // grpc-js-xds rejects a bootstrap whose node has no locality, even an empty one.
      locality,
      metadata,
    },
    // An xDS-enabled server asks for its Listener under this name (gRFC A36); clients ignore it.
    server_listener_resource_name_template: GRPC_SERVER_LISTENER_TEMPLATE,
    ...(dir
      ? {
          certificate_providers: {
            [GRPC_CERTIFICATE_PROVIDER]: {
              plugin_name: 'file_watcher',
              config: {
                certificate_file: `${dir}/${WORKLOAD_FILES.certificate}`,
                private_key_file: `${dir}/${WORKLOAD_FILES.privateKey}`,
                ca_certificate_file: `${dir}/${WORKLOAD_FILES.trustBundle}`,
                refresh_interval: CERTIFICATE_REFRESH,
              },
            },
          },
        }
      : {}),
  };
}
