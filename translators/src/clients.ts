/**
 * Which translator a connected client gets: one entry per client kind, each with
 * its capability table, its variant keys and its translation. The cache asks
 * `translationFor(proxy)` and never looks at the client kind itself.
 */
import type { Cluster, ClusterLoadAssignment, Listener, RouteConfiguration } from '@meshcp/xds-protos';
import { type ClientProfile, envoyProfile } from './envoy/capabilities.js';
import { envoyConfigScopeKey, envoyDegraded, serviceOfCluster, translateEnvoyConfig, translateEnvoyEndpoints } from './envoy/translate.js';
import { grpcProfile } from './grpc/capabilities.js';
import { grpcDegraded, grpcUsableEndpoints, translateGrpcConfig, translateGrpcEndpoints } from './grpc/translate.js';
import type { MeshModel } from './model/types.js';
import { localityKey, type ProxyInfo } from './proxy.js';
import { visibleModel, visibleTo } from './visibility.js';

/** LDS/RDS/CDS of one variant, plus what its clients cannot be given. */
export interface ClientConfig {
  listeners: Listener[];
  routes: RouteConfiguration[];
  clusters: Cluster[];
  degraded: string[];
}

/** The translation one proxy gets, bound to its profile. Proxies with equal keys share its output. */
export interface ProxyTranslation {
  readonly family: 'envoy' | 'grpc' | 'agent';
  /** The proxy this translation was chosen for (the first of its variant: only variant-keyed fields matter). */
  readonly info: ProxyInfo;
  readonly profile: ClientProfile;
  /** Proxies with equal config keys get identical LDS/RDS/CDS. */
  readonly configKey: string;
  /** Proxies with equal endpoint keys get identical ClusterLoadAssignments. */
  readonly endpointKey: string;
  config(model: MeshModel): ClientConfig;
  /** The CLA of one EDS cluster, or undefined when the model has no such EDS cluster. */
  endpoints(model: MeshModel, cluster: string): ClusterLoadAssignment | undefined;
  /**
   * Whether this proxy may see a cluster's service (exportTo). EDS variants are shared
   * across namespaces, so the cache asks this before it looks one up.
   */
  sees(model: MeshModel, cluster: string): boolean;
  /**
   * How many endpoints of a CLA this client will really use, where that can be fewer
   * than were sent (gRPC drops unweighted localities, gRFC A27); absent when all are.
   */
  usableEndpoints?(cla: ClusterLoadAssignment): number;
}

/**
 * Answers of `canSee` per model and caller namespace: every stream asks it for each of
 * the clusters it subscribes to (1,000 per Envoy in the benchmark), and the answer
 * changes only with the model. Bounded: the cache asks only about clusters the model
 * has, and at most this many answers are remembered per model (namespaces are client
 * claims where xDS is unauthenticated); past it, answers are computed each time.
 */
const MAX_REMEMBERED_ANSWERS = 100_000;
const visibility = new WeakMap<MeshModel, { count: number; byNamespace: Map<string, Map<string, boolean>> }>();

/** EDS is asked for by name: a client must not get the endpoints of a service it cannot see. */
function canSee(model: MeshModel, cluster: string, callerNamespace: string): boolean {
  let memo = visibility.get(model);
  if (!memo) {
    memo = { count: 0, byNamespace: new Map() };
    visibility.set(model, memo);
  }
  const known = memo.byNamespace.get(callerNamespace)?.get(cluster);
  if (known !== undefined) return known;
  const answer = computeCanSee(model, cluster, callerNamespace);
  if (memo.count < MAX_REMEMBERED_ANSWERS) {
    let answers = memo.byNamespace.get(callerNamespace);
    if (!answers) {
      answers = new Map();
      memo.byNamespace.set(callerNamespace, answers);
    }
    answers.set(cluster, answer);
    memo.count++;
  }
  return answer;
}

function computeCanSee(model: MeshModel, cluster: string, callerNamespace: string): boolean {
  const target = serviceOfCluster(model, cluster);
  return target !== undefined && visibleTo(target.service, callerNamespace);
}

function envoyTranslation(proxy: ProxyInfo): ProxyTranslation {
  const profile = envoyProfile(proxy);
  return {
    family: 'envoy',
    info: proxy,
    profile,
    configKey: `${profile.name}|${envoyConfigScopeKey(proxy)}`,
    endpointKey: `${profile.name}|${localityKey(proxy.locality)}`,
    config: (model) => {
      const visible = visibleModel(model, proxy.namespace);
      return { ...translateEnvoyConfig(visible, proxy, profile), degraded: envoyDegraded(visible, profile) };
    },
    endpoints: (model, cluster) => translateEnvoyEndpoints(model, cluster, proxy.locality, profile),
    sees: (model, cluster) => canSee(model, cluster, proxy.namespace),
  };
}

function grpcTranslation(proxy: ProxyInfo): ProxyTranslation {
  const profile = grpcProfile(proxy);
  return {
    family: 'grpc',
    info: proxy,
    profile,
    // Proxyless gRPC output does not depend on listener ports; routes depend on the caller's namespace (GEP-1294),
    // and a server on the wildcard address is given its own service's Listener (grpc/security.ts).
    configKey: `${profile.name}|${proxy.namespace}|${proxy.service}`,
    endpointKey: `${profile.name}|${localityKey(proxy.locality)}`,
    config: (model) => {
      const visible = visibleModel(model, proxy.namespace);
      const config = translateGrpcConfig(visible, profile, proxy.namespace, proxy.service ? `${proxy.namespace}/${proxy.service}` : undefined);
      return { ...config, degraded: grpcDegraded(visible, profile, proxy.namespace, config.degraded) };
    },
    endpoints: (model, cluster) => translateGrpcEndpoints(model, cluster, proxy.locality),
    sees: (model, cluster) => canSee(model, cluster, proxy.namespace),
    usableEndpoints: grpcUsableEndpoints,
  };
}

/**
 * `meshcp agent` is no proxy: it asks only for its workload's SDS secrets, which the
 * cache serves by the stream's identity, not by translation. It gets an empty config
 * (nothing degraded: it asks for no feature) and no Envoy profile, so it is never
 * listed or counted as an Envoy of an unknown or too-old version.
 */
const AGENT_PROFILE: ClientProfile = Object.freeze({ name: 'agent-sds', features: new Set<string>(), warnings: [] });

function agentTranslation(proxy: ProxyInfo): ProxyTranslation {
  return {
    family: 'agent',
    info: proxy,
    profile: AGENT_PROFILE,
    configKey: AGENT_PROFILE.name,
    endpointKey: AGENT_PROFILE.name,
    config: () => ({ listeners: [], routes: [], clusters: [], degraded: [] }),
    endpoints: () => undefined,
    // Visibility is the namespace's, whatever the kind: a worker's cache keeps one answer per namespace.
    sees: (model, cluster) => canSee(model, cluster, proxy.namespace),
  };
}

export function translationFor(proxy: ProxyInfo): ProxyTranslation {
  if (proxy.clientKind === 'agent') return agentTranslation(proxy);
  return proxy.clientKind.startsWith('grpc-') ? grpcTranslation(proxy) : envoyTranslation(proxy);
}
