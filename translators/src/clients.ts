/**
 * Which translator a connected client gets: one entry per client kind, each with
 * its capability table, its variant keys and its translation. The cache asks
 * `translationFor(proxy)` and never looks at the client kind itself.
 */
import type { Cluster, ClusterLoadAssignment, Listener, RouteConfiguration } from '@meshcp/xds-protos';
import { type ClientProfile, envoyProfile } from './envoy/capabilities.js';
import { loadAssignment } from './envoy/endpoints.js';
import { edsClusterNames, envoyConfigScopeKey, envoyDegraded, serviceOfCluster, translateEnvoyConfig, translateEnvoyEndpoints } from './envoy/translate.js';
import { grpcProfile } from './grpc/capabilities.js';
import { translateGrpcConfig } from './grpc/translate.js';
import type { MeshModel } from './model/types.js';
import { localityKey, type ProxyInfo } from './proxy.js';

/** LDS/RDS/CDS of one variant, plus what its clients cannot be given. */
export interface ClientConfig {
  listeners: Listener[];
  routes: RouteConfiguration[];
  clusters: Cluster[];
  degraded: string[];
}

/** The translation one proxy gets, bound to its profile. Proxies with equal keys share its output. */
export interface ProxyTranslation {
  readonly family: 'envoy' | 'grpc';
  readonly profile: ClientProfile;
  /** Proxies with equal config keys get identical LDS/RDS/CDS. */
  readonly configKey: string;
  /** Proxies with equal endpoint keys get identical ClusterLoadAssignments. */
  readonly endpointKey: string;
  config(model: MeshModel): ClientConfig;
  /** The CLA of one EDS cluster, or undefined when the model has no such EDS cluster. */
  endpoints(model: MeshModel, cluster: string): ClusterLoadAssignment | undefined;
}

function envoyTranslation(proxy: ProxyInfo): ProxyTranslation {
  const profile = envoyProfile(proxy);
  return {
    family: 'envoy',
    profile,
    configKey: `${profile.name}|${envoyConfigScopeKey(proxy)}`,
    endpointKey: `${profile.name}|${localityKey(proxy.locality)}`,
    config: (model) => ({ ...translateEnvoyConfig(model, proxy, profile), degraded: envoyDegraded(model, profile) }),
    endpoints: (model, cluster) => translateEnvoyEndpoints(model, cluster, proxy.locality, profile),
  };
}

function grpcTranslation(proxy: ProxyInfo): ProxyTranslation {
  const profile = grpcProfile(proxy);
  return {
    family: 'grpc',
    profile,
    // Proxyless gRPC output does not depend on listener ports or namespace.
    configKey: profile.name,
    endpointKey: `${profile.name}|${localityKey(proxy.locality)}`,
    config: (model) => translateGrpcConfig(model, profile),
    endpoints: (model, cluster) => {
      const target = serviceOfCluster(model, cluster);
      if (!target || target.port.protocol === 'TCP' || !edsClusterNames(model).includes(cluster)) return undefined;
      // Every gRPC implementation ignores localities without a weight (gRFC A27).
      return loadAssignment(target.service, target.port, proxy.locality, { alwaysWeighLocalities: true });
    },
  };
}

export function translationFor(proxy: ProxyInfo): ProxyTranslation {
  return proxy.clientKind.startsWith('grpc-') ? grpcTranslation(proxy) : envoyTranslation(proxy);
}
