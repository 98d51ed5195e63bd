import { METADATA } from '../proxy.js';
import { type BootstrapOptions, localityOf } from './options.js';

/** `meshcp bootstrap --grpc`: the gRPC xDS bootstrap JSON (GRPC_XDS_BOOTSTRAP / GRPC_XDS_BOOTSTRAP_CONFIG). */
export function grpcBootstrap(
  options: Pick<BootstrapOptions, 'nodeId' | 'service' | 'namespace' | 'region' | 'zone' | 'subZone' | 'xdsAddress'>,
): Record<string, unknown> {
  const locality = localityOf(options);
  return {
    xds_servers: [{ server_uri: options.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: {
      id: options.nodeId,
      cluster: options.service,
      // grpc-js-xds rejects a bootstrap whose node has no locality, even an empty one.
      locality,
      metadata: { [METADATA.namespace]: options.namespace, [METADATA.service]: options.service },
    },
  };
}
