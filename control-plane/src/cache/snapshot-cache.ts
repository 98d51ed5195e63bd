/**
 * The snapshot cache: what each proxy should have, computed once per variant and
 * encoded once per resource. Variants are keyed by what makes output differ
 * (translator profile, listener scope, locality), never by proxy, so 5,000 proxies
 * in three zones cost three EDS encodings per cluster, not 5,000.
 */

import {
  clusterName,
  type EnvoyProfile,
  edsClusterNames,
  emptyModel,
  envoyConfigScopeKey,
  envoyDegraded,
  envoyProfile,
  type GrpcProfile,
  grpcDegraded,
  grpcProfile,
  grpcUsableEndpoints,
  localityKey,
  type MeshModel,
  type MeshService,
  type ProxyInfo,
  serviceOfCluster,
  translateEnvoyConfig,
  translateEnvoyEndpoints,
  translateGrpcConfig,
  translateGrpcEndpoints,
} from '@meshcp/translators';
import {
  CLUSTER,
  ENDPOINT,
  type EncodedResource,
  type EnvoyApi,
  encodeResource,
  FieldPathError,
  LISTENER,
  loadEnvoyApi,
  messageNameOf,
  ROUTE,
  resourceName,
  SHORT_NAME,
  setVersion,
  type TypeUrl,
  validateResource,
} from '@meshcp/xds-protos';
import { type Logger, logger } from '../log.js';
import type { Metrics } from '../metrics.js';

/** A connected client as the cache sees it: which variants it reads. */
export interface ProxyView {
  readonly info: ProxyInfo;
  readonly profile: EnvoyProfile | GrpcProfile;
  /** Key of its LDS/RDS/CDS variant. */
  readonly configKey: string;
  /** Key of its EDS variant (locality + profile). */
  readonly endpointKey: string;
}

export interface CacheChange {
  /** Listeners, routes or clusters may have changed. */
  config: boolean;
  /** Clusters whose endpoints may have changed. */
  clusters: ReadonlySet<string>;
}

export interface RejectedResource {
  typeUrl: string;
  name: string;
  variant: string;
  issues: { path: string; message: string }[];
}

const EMPTY_SET: ResourceSet = { map: new Map(), version: setVersion([]) };

/**
 * Rewrites translator output before it is validated and published. Only for
 * planting faults in tests and in the compatibility matrix (e.g. a resource that
 * passes validation but one Envoy version rejects); never set in production.
 */
export type ResourceHook = (typeUrl: TypeUrl, resources: object[], view: ProxyView) => object[];

/** A variant's full set of one type, shared (never copied) by every stream that reads it. */
export interface ResourceSet {
  readonly map: ReadonlyMap<string, EncodedResource>;
  /** Content hash of the set: the SotW `version_info` of LDS/CDS. */
  readonly version: string;
}

interface ConfigVariant {
  byType: Map<TypeUrl, ResourceSet>;
  /** Features the model asks for that this client kind or version cannot honour. */
  degraded: string[];
}

/** Service fingerprint without endpoints: equal fingerprints mean only endpoints changed. */
function configFingerprint(service: MeshService): string {
  const { endpoints: _endpoints, ...rest } = service;
  return JSON.stringify(rest);
}

export class SnapshotCache {
  private model: MeshModel = emptyModel();
  private ready = false;
  private readonly configVariants = new Map<string, ConfigVariant>();
  /** EDS: cluster → endpointKey → encoded CLA; a cluster's map is dropped when its endpoints change. */
  private readonly endpointVariants = new Map<string, Map<string, EncodedResource | null>>();
  /** Last resource that passed validation, per variant/type/name: what keeps serving when a new one fails. */
  private readonly lastGood = new Map<string, EncodedResource>();
  private readonly rejected = new Map<string, RejectedResource>();
  private readonly listeners = new Set<(change: CacheChange) => void>();
  private readonly log: Logger = logger('cache');
  private readonly api: EnvoyApi;

  private hook?: ResourceHook;

  constructor(
    private readonly metrics?: Metrics,
    api?: EnvoyApi,
  ) {
    this.api = api ?? loadEnvoyApi();
  }

  /** Installs (or clears) a fault hook and re-translates everything with it. */
  setResourceHook(hook: ResourceHook | undefined): void {
    this.hook = hook;
    this.rejected.clear();
    this.configVariants.clear();
    this.endpointVariants.clear();
    this.grpcUsable.clear();
    if (this.ready) for (const listener of this.listeners) listener({ config: true, clusters: new Set(this.allClusterNames()) });
  }

  isReady(): boolean {
    return this.ready;
  }

  currentModel(): MeshModel {
    return this.model;
  }

  onChange(listener: (change: CacheChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Applies a new model; endpoint-only changes keep every LDS/RDS/CDS variant. */
  setModel(next: MeshModel): CacheChange {
    const previous = this.model;
    const changedClusters = new Set<string>();
    let config = !this.ready || (previous.routes !== next.routes && JSON.stringify(previous.routes) !== JSON.stringify(next.routes));
    const keys = new Set([...previous.services.keys(), ...next.services.keys()]);
    for (const key of keys) {
      const before = previous.services.get(key);
      const after = next.services.get(key);
      if (before === after) continue;
      const configChanged = !before || !after || configFingerprint(before) !== configFingerprint(after);
      if (configChanged) config = true;
      // A cluster's endpoints change with its endpoints or with its settings (failover policy, ports).
      if (configChanged || JSON.stringify(before.endpoints) !== JSON.stringify(after.endpoints)) {
        for (const service of [before, after]) {
          for (const port of service?.ports ?? []) changedClusters.add(clusterName(service?.namespace ?? '', service?.name ?? '', port.port));
        }
      }
    }
    this.model = next;
    this.edsNames = undefined;
    this.ready = true;
    if (config) {
      this.configVariants.clear();
    }
    for (const cluster of changedClusters) this.endpointVariants.delete(cluster);
    for (const cluster of changedClusters) this.grpcUsable.delete(cluster);
    this.metrics?.snapshots.inc({ kind: config ? 'config' : 'endpoints' });
    const change: CacheChange = { config, clusters: changedClusters };
    if (config || changedClusters.size > 0) for (const listener of this.listeners) listener(change);
    return change;
  }

  viewFor(info: ProxyInfo): ProxyView {
    const grpc = info.clientKind.startsWith('grpc-');
    const profile = grpc ? grpcProfile(info) : envoyProfile(info);
    return {
      info,
      profile,
      // Proxyless gRPC output does not depend on listener ports or namespace.
      configKey: grpc ? profile.name : `${profile.name}|${envoyConfigScopeKey(info)}`,
      endpointKey: `${profile.name}|${localityKey(info.locality)}`,
    };
  }

  /** gRPC only: usable endpoints (gRFC A27) of each EDS resource sent, by cluster, then EDS variant. */
  private readonly grpcUsable = new Map<string, Map<string, number>>();

  /**
   * gRPC only: the clusters this client was sent whose endpoints it will not use
   * (none usable per gRFC A27), so the admin API never shows such a client as healthy.
   */
  grpcClustersWithoutEndpoints(view: ProxyView): string[] {
    if (!('kind' in view.profile)) return [];
    return this.allClusterNames().filter((cluster) => this.grpcUsable.get(cluster)?.get(view.endpointKey) === 0);
  }

  /** What this proxy was asked to do but cannot, for the admin API. */
  degradedFor(view: ProxyView): string[] {
    return this.configVariant(view).degraded;
  }

  /** Resources of one type for a proxy: all of them (wildcard) or the named ones that exist. */
  /** The full set of one config type (LDS/RDS/CDS) for a proxy's variant. */
  resourceSet(view: ProxyView, typeUrl: TypeUrl): ResourceSet {
    return this.configVariant(view).byType.get(typeUrl) ?? EMPTY_SET;
  }

  /** One resource by name, or undefined if the proxy's variant has no such resource. */
  resource(view: ProxyView, typeUrl: TypeUrl, name: string): EncodedResource | undefined {
    return typeUrl === ENDPOINT ? this.endpoints(view, name) : this.resourceSet(view, typeUrl).map.get(name);
  }

  /** All EDS cluster names of the current model. */
  endpointNames(): readonly string[] {
    return this.allClusterNames();
  }

  resources(view: ProxyView, typeUrl: TypeUrl, names: ReadonlySet<string> | 'all'): Map<string, EncodedResource> {
    if (typeUrl === ENDPOINT) {
      const out = new Map<string, EncodedResource>();
      const wanted = names === 'all' ? this.allClusterNames() : names;
      for (const name of wanted) {
        const cla = this.endpoints(view, name);
        if (cla) out.set(name, cla);
      }
      return out;
    }
    const all = this.resourceSet(view, typeUrl).map;
    if (names === 'all') return new Map(all);
    const out = new Map<string, EncodedResource>();
    for (const name of names) {
      const resource = all.get(name);
      if (resource) out.set(name, resource);
    }
    return out;
  }

  rejectedResources(): RejectedResource[] {
    return [...this.rejected.values()];
  }

  private edsNames?: string[];
  private allClusterNames(): string[] {
    this.edsNames ??= edsClusterNames(this.model);
    return this.edsNames;
  }

  private endpoints(view: ProxyView, cluster: string): EncodedResource | undefined {
    let variants = this.endpointVariants.get(cluster);
    if (!variants) {
      variants = new Map();
      this.endpointVariants.set(cluster, variants);
    }
    let cached = variants.get(view.endpointKey);
    if (cached === undefined) {
      const started = process.hrtime.bigint();
      const profile = view.profile;
      let json = !serviceOfCluster(this.model, cluster)
        ? undefined
        : 'kind' in profile
          ? translateGrpcEndpoints(this.model, cluster, view.info.locality)
          : translateEnvoyEndpoints(this.model, cluster, view.info.locality, profile);
      if (json && this.hook) json = this.hook(ENDPOINT, [json], view)[0];
      // What gRPC will actually use of what is sent (after any hook): zero usable endpoints must not pass for healthy.
      if ('kind' in profile) {
        const usable = this.grpcUsable.get(cluster) ?? new Map<string, number>();
        usable.set(view.endpointKey, json ? grpcUsableEndpoints(json) : 0);
        this.grpcUsable.set(cluster, usable);
      }
      cached = json ? (this.publish(ENDPOINT, view.endpointKey, json) ?? null) : null;
      variants.set(view.endpointKey, cached);
      this.metrics?.translationSeconds.observe({ kind: 'endpoints' }, Number(process.hrtime.bigint() - started) / 1e9);
    }
    return cached ?? undefined;
  }

  private configVariant(view: ProxyView): ConfigVariant {
    const existing = this.configVariants.get(view.configKey);
    if (existing) return existing;
    const started = process.hrtime.bigint();
    const profile = view.profile;
    const config =
      'kind' in profile
        ? { ...translateGrpcConfig(this.model, profile), degraded: grpcDegraded(this.model, profile) }
        : { ...translateEnvoyConfig(this.model, view.info, profile), degraded: envoyDegraded(this.model, profile) };
    const byType = new Map<TypeUrl, ResourceSet>();
    const encodeAll = (typeUrl: TypeUrl, list: object[]) => {
      const map = new Map<string, EncodedResource>();
      for (const json of this.hook ? this.hook(typeUrl, list, view) : list) {
        const resource = this.publish(typeUrl, view.configKey, json);
        if (resource) map.set(resource.name, resource);
      }
      byType.set(typeUrl, { map, version: setVersion(map.values()) });
    };
    encodeAll(CLUSTER, config.clusters);
    encodeAll(LISTENER, config.listeners);
    encodeAll(ROUTE, config.routes);
    const variant = { byType, degraded: config.degraded };
    this.configVariants.set(view.configKey, variant);
    this.metrics?.translationSeconds.observe({ kind: 'config' }, Number(process.hrtime.bigint() - started) / 1e9);
    return variant;
  }

  /**
   * PGV-checks and encodes one resource. A resource that fails is never sent: the
   * error is logged with its path and counted, and the last good version keeps serving.
   */
  private publish(typeUrl: TypeUrl, variant: string, json: object): EncodedResource | undefined {
    const name = resourceName(json);
    const key = `${typeUrl}|${variant}|${name}`;
    let issues = validateResource(this.api, messageNameOf(typeUrl), json);
    let encoded: EncodedResource | undefined;
    if (issues.length === 0) {
      try {
        encoded = encodeResource(this.api, typeUrl, json);
      } catch (error) {
        if (!(error instanceof FieldPathError)) throw error;
        issues = [{ path: error.path, message: error.detail }];
      }
    }
    if (encoded) {
      this.lastGood.set(key, encoded);
      this.rejected.delete(key);
      return encoded;
    }
    this.rejected.set(key, { typeUrl, name, variant, issues });
    this.metrics?.rejectedResources.inc({ type: SHORT_NAME[typeUrl] });
    const kept = this.lastGood.get(key);
    this.log.error('resource failed validation; not published', {
      type: SHORT_NAME[typeUrl],
      name,
      variant,
      issues,
      keeping: kept ? kept.version : 'nothing (no earlier good version)',
    });
    return kept;
  }
}
