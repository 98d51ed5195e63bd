/**
 * Mesh mTLS for proxyless gRPC (gRFC A29): the same contract as the sidecars'
 * (`envoy/features/mtls.ts`), with certificate provider instances instead of SDS.
 * gRPC reads its certificate, key and trust bundle from files through the
 * `file_watcher` provider the bootstrap defines (`meshcp bootstrap --grpc
 * --workload-cert-dir`), files that `meshcp agent` keeps current.
 *
 * - A client whose profile has 'security.clientMtls' calling a STRICT or PERMISSIVE
 *   service: the cluster carries an UpstreamTlsContext showing the workload's
 *   certificate and accepting only a peer that chains to the mesh bundle and carries
 *   the service's identity (URI SAN …/ns/<namespace>/sa/<serviceAccount>).
 * - A client without it would ignore the TLS context and dial in plaintext: a STRICT
 *   service's cluster is left out of what it is sent (and every route to it), so its
 *   RPCs fail; each such cluster is listed as degraded. Never a silent downgrade.
 * - xDS-enabled gRPC servers (gRFC A36) ask for the Listener named by the
 *   bootstrap's `server_listener_resource_name_template` with their listening
 *   address: meshcp serves one per endpoint of each service, TLS requiring a client
 *   certificate for STRICT and PERMISSIVE (a gRPC server has no TLS inspector, so it
 *   cannot take TLS and plaintext on one port).
 */
import type {
  Cluster,
  DownstreamTlsContext,
  HttpConnectionManager,
  HttpFilter,
  Listener,
  Packed,
  RouteConfiguration,
  TransportSocket,
  UpstreamTlsContext,
} from '@meshcp/xds-protos';
import { isHttp2 } from '../envoy/cluster.js';
import { identityPath } from '../envoy/features/mtls.js';
import { clusterName } from '../envoy/names.js';
import { mtlsModeOf, sortedServices } from '../model/services.js';
import { type MeshModel, type MeshService, serviceKey } from '../model/types.js';
import { DOWNSTREAM_TLS_CONTEXT, HTTP_CONNECTION_MANAGER, ROUTER_FILTER, UPSTREAM_TLS_CONTEXT } from '../type-urls.js';
import { type GrpcFeature, type GrpcProfile, grpcMissingReason, grpcSupports } from './capabilities.js';
import { grpcRbacFilter, policiesGuarding } from './rbac.js';

/** The bootstrap's certificate provider instance (`certificate_providers`) the resources name. */
export const GRPC_CERTIFICATE_PROVIDER = 'meshcp-workload';
/** `server_listener_resource_name_template`: an xDS-enabled server asks for this with `%s` = its listening address. */
export const GRPC_SERVER_LISTENER_TEMPLATE = 'grpc/server?xds.resource.listening_address=%s';

/** The files `meshcp agent` writes and the `file_watcher` provider reads. */
export const WORKLOAD_FILES = { certificate: 'cert.pem', privateKey: 'key.pem', trustBundle: 'ca.pem' } as const;

function commonTlsContext(peerIdentity?: string): NonNullable<UpstreamTlsContext['common_tls_context']> {
  return {
    tls_certificate_provider_instance: { instance_name: GRPC_CERTIFICATE_PROVIDER },
    // validation_context, not combined_validation_context: the combined form requires an
    // SDS secret config (PGV), which gRPC has no use for.
    validation_context: {
      ca_certificate_provider_instance: { instance_name: GRPC_CERTIFICATE_PROVIDER },
      // gRPC matches these against every SAN of the peer; only the mesh CA issues URIs ending so.
      ...(peerIdentity ? { match_subject_alt_names: [{ suffix: peerIdentity }] } : {}),
    },
  };
}

function upstreamTls(service: MeshService): TransportSocket {
  const context: Packed<UpstreamTlsContext> = {
    '@type': UPSTREAM_TLS_CONTEXT,
    common_tls_context: commonTlsContext(identityPath(service)),
  };
  return { name: 'envoy.transport_sockets.tls', typed_config: context };
}

function downstreamTls(): TransportSocket {
  const context: Packed<DownstreamTlsContext> = {
    '@type': DOWNSTREAM_TLS_CONTEXT,
    require_client_certificate: true,
    common_tls_context: commonTlsContext(),
  };
  return { name: 'envoy.transport_sockets.tls', typed_config: context };
}

const has = (profile: GrpcProfile, feature: GrpcFeature) => grpcSupports(profile, feature);

/**
 * Adds the client side of mesh mTLS to a service's cluster. Returns false when the
 * cluster must not be sent at all: a STRICT service and a client that cannot do mTLS.
 */
export function secureGrpcCluster(cluster: Cluster, service: MeshService, profile: GrpcProfile, degrade: (what: string) => void): boolean {
  const mode = mtlsModeOf(service);
  if (mode === 'DISABLE') return true;
  if (has(profile, 'security.clientMtls')) {
    cluster.transport_socket = upstreamTls(service);
    return true;
  }
  const why = grpcMissingReason(profile, 'security.clientMtls');
  if (mode === 'STRICT') {
    degrade(`${cluster.name}: mtls STRICT, cluster not sent so RPCs to it fail rather than go out in plaintext (${why})`);
    return false;
  }
  degrade(`${cluster.name}: mtls PERMISSIVE, called in plaintext (${why}); an xDS-enabled gRPC server of it requires mTLS and refuses these calls`);
  return true;
}

/**
 * A route configuration without routes to clusters that were left out: weighted
 * backends are dropped from the split, and a route with none left is removed (RPCs
 * it matched fall to the next route, or fail UNAVAILABLE with no route matching).
 */
export function withoutClusters(config: RouteConfiguration, leftOut: ReadonlySet<string>, degrade: (what: string) => void): RouteConfiguration {
  if (leftOut.size === 0) return config;
  const virtualHosts = (config.virtual_hosts ?? []).map((host) => {
    const routes = (host.routes ?? []).flatMap((route) => {
      const action = route.route;
      if (!action) return [route];
      if (action.cluster !== undefined) {
        if (!leftOut.has(action.cluster)) return [route];
        if (route.name !== 'default')
          degrade(`${config.name} route ${route.name}: not served (its backend ${action.cluster} needs mTLS); RPCs it matched go to the next matching route`);
        return [];
      }
      const weighted = action.weighted_clusters?.clusters ?? [];
      const kept = weighted.filter((c) => !leftOut.has(c.name ?? ''));
      if (kept.length === weighted.length) return [route];
      degrade(
        `${config.name} route ${route.name}: backends ${weighted
          .filter((c) => leftOut.has(c.name ?? ''))
          .map((c) => c.name)
          .join(', ')} dropped from the split (they need mTLS); their share goes to the other backends`,
      );
      if (kept.length === 0) return [];
      return [{ ...route, route: { ...action, weighted_clusters: { ...action.weighted_clusters, clusters: kept } } }];
    });
    return { ...host, routes };
  });
  return { ...config, virtual_hosts: virtualHosts };
}

/** `host:port` as gRPC formats a listening address (IPv6 in brackets). */
function listeningAddress(address: string, port: number): string {
  return `${address.includes(':') ? `[${address}]` : address}:${port}`;
}

function serverListener(name: string, address: string, port: number, secured: boolean, rbac: HttpFilter | undefined): Listener {
  const hcm: Packed<HttpConnectionManager> = {
    '@type': HTTP_CONNECTION_MANAGER,
    stat_prefix: name,
    route_config: {
      name,
      // gRFC A36: a server route takes the RPC in (non_forwarding_action); anything else fails it.
      virtual_hosts: [{ name, domains: ['*'], routes: [{ name: 'serve', match: { prefix: '' }, non_forwarding_action: {} }] }],
    },
    // gRFC A41: MeshAccessPolicy as an RBAC filter ahead of the router.
    http_filters: [...(rbac ? [rbac] : []), ROUTER_FILTER],
  };
  return {
    name,
    address: { socket_address: { address, port_value: port } },
    filter_chains: [
      {
        name: secured ? 'mtls' : 'plaintext',
        filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }],
        ...(secured ? { transport_socket: downstreamTls() } : {}),
      },
    ],
  };
}

/**
 * The wildcards a server bound to every address names itself by: grpc-java 1.85 always
 * says 0.0.0.0 (XdsServerBuilder); grpc-go says what it listens on, `[::]` for `:PORT`.
 */
const WILDCARD_ADDRESSES = ['0.0.0.0', '::'] as const;

/**
 * Listeners for xDS-enabled gRPC servers: one per endpoint address and port of every
 * GRPC/HTTP2 service port, named by GRPC_SERVER_LISTENER_TEMPLATE. Two services on one
 * address take the strictest mode. Sent only to clients that implement server-side
 * security: an older server would ignore the TLS context and serve in plaintext.
 *
 * A server listening on the wildcard asks for `0.0.0.0:PORT` (or `[::]:PORT`) and accepts
 * only a Listener at that address: grpc-java 1.85 names every server 0.0.0.0, even one built with
 * forAddress(127.0.0.1…). Which service such a server is cannot come from the port (many
 * services share 50051), so it is the workload's own service (`ownService`,
 * `namespace/name` from its node): its ports get a wildcard Listener with its mode and policies.
 */
export function grpcServerListeners(model: MeshModel, profile: GrpcProfile, degrade: (what: string) => void, ownService?: string): Listener[] {
  const byAddress = new Map<string, { address: string; port: number; secured: boolean; owners: string[]; services: string[] }>();
  const permissive = new Set<string>();
  for (const service of sortedServices(model)) {
    const key = serviceKey(service.namespace, service.name);
    const mode = mtlsModeOf(service);
    const secured = mode !== 'DISABLE';
    for (const port of service.ports) {
      // A gRPC server speaks HTTP/2 only: HTTP/1 and TCP ports have no xDS-enabled server.
      if (!isHttp2(port)) continue;
      for (const endpoint of service.endpoints) {
        const target = endpoint.ports[port.name] ?? port.port;
        const name = GRPC_SERVER_LISTENER_TEMPLATE.replace('%s', listeningAddress(endpoint.address, target));
        const entry = byAddress.get(name) ?? { address: endpoint.address, port: target, secured: false, owners: [], services: [] };
        if (!entry.services.includes(key)) entry.services.push(key);
        entry.secured ||= secured;
        const owner = clusterName(service.namespace, service.name, port.port);
        entry.owners.push(owner);
        if (mode === 'PERMISSIVE') permissive.add(owner);
        byAddress.set(name, entry);
      }
    }
  }
  const own = ownService === undefined ? undefined : model.services.get(ownService);
  for (const port of own?.ports ?? []) {
    if (!own || !isHttp2(port)) continue;
    for (const target of new Set(own.endpoints.map((endpoint) => endpoint.ports[port.name] ?? port.port))) {
      for (const wildcard of WILDCARD_ADDRESSES) {
        const name = GRPC_SERVER_LISTENER_TEMPLATE.replace('%s', listeningAddress(wildcard, target));
        const owner = clusterName(own.namespace, own.name, port.port);
        const entry = byAddress.get(name) ?? {
          address: wildcard,
          port: target,
          secured: mtlsModeOf(own) !== 'DISABLE',
          owners: [],
          services: [ownService as string],
        };
        if (!entry.owners.includes(owner)) entry.owners.push(owner);
        byAddress.set(name, entry);
      }
    }
  }
  if (!has(profile, 'security.serverMtls')) {
    const refused = [...byAddress.values()].filter((e) => e.secured).flatMap((e) => e.owners);
    for (const owner of new Set(refused))
      degrade(
        `${owner}: an xDS-enabled gRPC server of it is not served its Listener (${grpcMissingReason(profile, 'security.serverMtls')}); it would serve plaintext`,
      );
    return [];
  }
  for (const owner of permissive)
    degrade(`${owner}: mtls PERMISSIVE, an xDS-enabled gRPC server of it requires mTLS (a gRPC server cannot take TLS and plaintext on one port)`);
  const listeners: Listener[] = [];
  for (const [name, e] of byAddress) {
    const policies = policiesGuarding(model, e.services);
    if (policies.length > 0 && !has(profile, 'server.rbac')) {
      // Without A41 the server would ignore the policy and admit every caller.
      degrade(
        `${name}: not served (MeshAccessPolicy ${policies.map((p) => `${p.namespace}/${p.name}`).join(', ')} guards it; ${grpcMissingReason(profile, 'server.rbac')})`,
      );
      continue;
    }
    if (policies.length > 0 && !e.secured)
      degrade(`${name}: MeshAccessPolicy on a service with mtls DISABLE: callers have no identity, so every RPC is refused; set spec.mtls.mode`);
    listeners.push(serverListener(name, e.address, e.port, e.secured, grpcRbacFilter(policies, degrade)));
  }
  return listeners;
}
