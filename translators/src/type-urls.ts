/**
 * The `@type` URLs of the typed configs the translators write or look for, each
 * spelled once: a slip in one is an extension Envoy or gRPC cannot find, and code
 * that finds the HTTP connection manager by its type must compare with the same string
 * that wrote it.
 */
import type { HttpFilter } from '@meshcp/xds-protos';

export const HTTP_CONNECTION_MANAGER = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
export const RBAC = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
export const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const HTTP_PROTOCOL_OPTIONS = 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
export const UPSTREAM_TLS_CONTEXT = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
export const DOWNSTREAM_TLS_CONTEXT = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';

/** The router: the last filter of every HTTP filter chain, Envoy's and gRPC's alike. */
export const ROUTER_FILTER: HttpFilter = { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } };
