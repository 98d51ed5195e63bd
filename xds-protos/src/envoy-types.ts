/** Readable names for the generated proto3-JSON types of the Envoy messages we build. */
import type * as g from './generated/envoy.js';

export type { AnyJson } from './generated/envoy.js';
export type Listener = g.envoy_config_listener_v3_Listener;
export type FilterChain = g.envoy_config_listener_v3_FilterChain;
export type RouteConfiguration = g.envoy_config_route_v3_RouteConfiguration;
export type VirtualHost = g.envoy_config_route_v3_VirtualHost;
export type Route = g.envoy_config_route_v3_Route;
export type RouteMatch = g.envoy_config_route_v3_RouteMatch;
export type RouteAction = g.envoy_config_route_v3_RouteAction;
export type RedirectAction = g.envoy_config_route_v3_RedirectAction;
export type RegexMatchAndSubstitute = g.envoy_type_matcher_v3_RegexMatchAndSubstitute;
export type RetryPolicy = g.envoy_config_route_v3_RetryPolicy;
export type HeaderMatcher = g.envoy_config_route_v3_HeaderMatcher;
export type WeightedClusterEntry = g.envoy_config_route_v3_WeightedCluster_ClusterWeight;
export type HeaderValueOption = g.envoy_config_core_v3_HeaderValueOption;
export type StringMatcher = g.envoy_type_matcher_v3_StringMatcher;
export type Cluster = g.envoy_config_cluster_v3_Cluster;
export type OutlierDetection = g.envoy_config_cluster_v3_OutlierDetection;
export type CircuitBreakers = g.envoy_config_cluster_v3_CircuitBreakers;
export type HealthCheck = g.envoy_config_core_v3_HealthCheck;
export type Http2ProtocolOptions = g.envoy_config_core_v3_Http2ProtocolOptions;
export type ClusterLoadAssignment = g.envoy_config_endpoint_v3_ClusterLoadAssignment;
export type LocalityLbEndpoints = g.envoy_config_endpoint_v3_LocalityLbEndpoints;
export type LbEndpoint = g.envoy_config_endpoint_v3_LbEndpoint;
export type Address = g.envoy_config_core_v3_Address;
export type Locality = g.envoy_config_core_v3_Locality;
export type HttpConnectionManager = g.envoy_extensions_filters_network_http_connection_manager_v3_HttpConnectionManager;
export type HttpFilter = g.envoy_extensions_filters_network_http_connection_manager_v3_HttpFilter;
export type TcpProxy = g.envoy_extensions_filters_network_tcp_proxy_v3_TcpProxy;
export type HttpProtocolOptions = g.envoy_extensions_upstreams_http_v3_HttpProtocolOptions;
export type Bootstrap = g.envoy_config_bootstrap_v3_Bootstrap;
export type Node = g.envoy_config_core_v3_Node;
export type Router = g.envoy_extensions_filters_http_router_v3_Router;
export type Secret = g.envoy_extensions_transport_sockets_tls_v3_Secret;
export type UpstreamTlsContext = g.envoy_extensions_transport_sockets_tls_v3_UpstreamTlsContext;
export type DownstreamTlsContext = g.envoy_extensions_transport_sockets_tls_v3_DownstreamTlsContext;
export type CommonTlsContext = g.envoy_extensions_transport_sockets_tls_v3_CommonTlsContext;
export type TransportSocket = g.envoy_config_core_v3_TransportSocket;
export type ListenerFilter = g.envoy_config_listener_v3_ListenerFilter;

/** A typed `Any`: the message body plus its type URL. */
export type Packed<T> = T & { '@type': string };
