/**
 * Mesh mTLS with workload identities delivered over SDS. A service whose `mtls` is
 * STRICT or PERMISSIVE is called over mTLS: the caller's sidecar shows its own SVID
 * (SDS secret `default`) and accepts only a peer whose certificate chains to the mesh
 * trust bundle (SDS secret `ROOTCA`) and carries the service's identity
 * (…/ns/<namespace>/sa/<serviceAccount>). The service's own sidecars require a client
 * certificate on the inbound listener (STRICT), or take TLS and plaintext side by
 * side (PERMISSIVE: the migration path), and tell the app who called (XFCC).
 */
import type { DownstreamTlsContext, FilterChain, ListenerFilter, Packed, TransportSocket, UpstreamTlsContext } from '@meshcp/xds-protos';
import { DEFAULTS } from '../../model/defaults.js';
import { mtlsModeOf } from '../../model/services.js';
import { type MeshService, serviceKey } from '../../model/types.js';
import { DOWNSTREAM_TLS_CONTEXT, HTTP_CONNECTION_MANAGER, UPSTREAM_TLS_CONTEXT } from '../../type-urls.js';
import type { EnvoyFeature } from '../feature.js';

/** SDS names: the proxy's own certificate and the trust bundle (as Istio names them). */
export const WORKLOAD_CERTIFICATE_SECRET = 'default';
export const TRUST_BUNDLE_SECRET = 'ROOTCA';

const ADS = { ads: {}, resource_api_version: 'V3' } as const;

/** The path part of a workload SPIFFE ID; the trust domain is the bundle's (only its CA issues). */
export function identityPath(service: Pick<MeshService, 'namespace' | 'serviceAccount'>): string {
  return `/ns/${service.namespace}/sa/${service.serviceAccount ?? DEFAULTS.serviceAccount}`;
}

function upstreamTls(service: MeshService): TransportSocket {
  const context: Packed<UpstreamTlsContext> = {
    '@type': UPSTREAM_TLS_CONTEXT,
    common_tls_context: {
      tls_certificate_sds_secret_configs: [{ name: WORKLOAD_CERTIFICATE_SECRET, sds_config: ADS }],
      combined_validation_context: {
        default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { suffix: identityPath(service) } }] },
        validation_context_sds_secret_config: { name: TRUST_BUNDLE_SECRET, sds_config: ADS },
      },
    },
  };
  return { name: 'envoy.transport_sockets.tls', typed_config: context };
}

function downstreamTls(): TransportSocket {
  const context: Packed<DownstreamTlsContext> = {
    '@type': DOWNSTREAM_TLS_CONTEXT,
    require_client_certificate: true,
    common_tls_context: {
      tls_certificate_sds_secret_configs: [{ name: WORKLOAD_CERTIFICATE_SECRET, sds_config: ADS }],
      validation_context_sds_secret_config: { name: TRUST_BUNDLE_SECRET, sds_config: ADS },
    },
  };
  return { name: 'envoy.transport_sockets.tls', typed_config: context };
}

/** The same chain over TLS, telling the app the caller's identity (x-forwarded-client-cert, URI only). */
function tlsChain(plain: FilterChain, match: boolean): FilterChain {
  const filters = (plain.filters ?? []).map((filter) => {
    const config = filter.typed_config as Record<string, unknown> | undefined;
    if (config?.['@type'] !== HTTP_CONNECTION_MANAGER) return filter;
    return {
      ...filter,
      typed_config: {
        ...config,
        forward_client_cert_details: 'SANITIZE_SET',
        set_current_client_cert_details: { uri: true },
      } as unknown as typeof filter.typed_config,
    };
  });
  return { ...(match ? { filter_chain_match: { transport_protocol: 'tls' } } : {}), filters, transport_socket: downstreamTls() };
}

const TLS_INSPECTOR: ListenerFilter = {
  name: 'envoy.filters.listener.tls_inspector',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' },
};

export const mtls: EnvoyFeature = {
  name: 'mtls',
  cluster(cluster, service) {
    if (mtlsModeOf(service) !== 'DISABLE') cluster.transport_socket = upstreamTls(service);
  },
  listener(listener, { model, scope }) {
    if (listener.traffic_direction !== 'INBOUND') return;
    const mode = mtlsModeOf(model.services.get(serviceKey(scope.namespace, scope.service)));
    const [plain] = listener.filter_chains ?? [];
    if (mode === 'DISABLE' || !plain) return;
    if (mode === 'STRICT') {
      listener.filter_chains = [tlsChain(plain, false)];
      return;
    }
    listener.listener_filters = [...(listener.listener_filters ?? []), TLS_INSPECTOR];
    listener.filter_chains = [tlsChain(plain, true), plain];
  },
};
