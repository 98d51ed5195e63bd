/**
 * The snapshot cache stores what each variant of proxy should have and answers
 * streams from it. Variants are keyed by what makes output differ (translator
 * profile, listener scope, locality), never by proxy, so 5,000 proxies in three
 * zones cost three EDS encodings per cluster, not 5,000. Building a variant's
 * resources is the snapshot builder's job (`../snapshot/builder.ts`); the cache
 * decides when a stored set is stale, keeps the previous consistent set for the
 * builder to fall back to, and forgets a variant when its last proxy leaves.
 */

import {
  clusterName,
  edsClusterNames,
  emptyModel,
  type MeshModel,
  type MeshService,
  type ProxyInfo,
  type ProxyTranslation,
  translationFor,
} from '@meshcp/translators';
import {
  type ClusterLoadAssignment,
  ENDPOINT,
  type EncodedResource,
  type EnvoyApi,
  loadEnvoyApi,
  SECRET,
  SHORT_NAME,
  setVersion,
  type TypeUrl,
} from '@meshcp/xds-protos';
import { type Logger, logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { type ConfigSet, type ConfigType, EMPTY_SET, type Rejection, type ResourceHook, type ResourceSet, SnapshotBuilder } from '../snapshot/builder.js';
import type { ServingCache } from './serving-cache.js';

export type { ResourceHook, ResourceSet } from '../snapshot/builder.js';

/** A connected client as the cache sees it: which variants it reads. */
export interface ProxyView {
  readonly info: ProxyInfo;
  readonly translation: ProxyTranslation;
  readonly profile: ProxyTranslation['profile'];
  /** Key of its LDS/RDS/CDS variant. */
  readonly configKey: string;
  /** Key of its EDS variant (locality + profile). */
  readonly endpointKey: string;
  /** The workload identity (`namespace/serviceAccount`) it authenticated as: whose SDS secrets it gets. */
  readonly identityKey?: string;
}

export interface CacheChange {
  /** Listeners, routes or clusters may have changed. */
  config: boolean;
  /** Clusters whose endpoints may have changed. */
  clusters: ReadonlySet<string>;
  /** Workload identities whose SDS secrets changed (a certificate renewed, the trust bundle rotated). */
  identities?: ReadonlySet<string>;
  /** When a source change was applied (performance.now() ms): proxies' ACKs of it are measured from here (convergence). */
  appliedAt?: number;
}

export type RejectedResource = Rejection;

interface StoredConfig {
  set: ConfigSet;
  /** False once the model changed: rebuilt on next read, with `set` as the fallback. */
  fresh: boolean;
}

interface StoredEndpoints {
  resource?: EncodedResource;
  fresh: boolean;
  /** For clients that use fewer endpoints than they are sent: how many of this CLA's they will use. */
  usable?: number;
}

/** Service fingerprint without endpoints: equal fingerprints mean only endpoints changed. */
function configFingerprint(service: MeshService): string {
  const { endpoints: _endpoints, ...rest } = service;
  return JSON.stringify(rest);
}

export class SnapshotCache implements ServingCache {
  private model: MeshModel = emptyModel();
  private ready = false;
  private readonly configVariants = new Map<string, StoredConfig>();
  /** EDS: cluster → endpointKey → encoded CLA. */
  private readonly endpointVariants = new Map<string, Map<string, StoredEndpoints>>();
  /** How many views read each config / endpoint variant; a variant nobody reads is forgotten. */
  private readonly configReaders = new Map<string, number>();
  private readonly endpointReaders = new Map<string, number>();
  private readonly endpointRejections = new Map<string, Rejection>();
  /** SDS: the secrets of each workload identity (its certificate and the trust bundle), set by WorkloadCertificates. */
  private readonly secretSets = new Map<string, ResourceSet>();
  private readonly listeners = new Set<(change: CacheChange) => void>();
  private readonly log: Logger = logger('cache');
  private readonly builder: SnapshotBuilder;
  private edsNames?: { list: string[]; set: Set<string> };

  constructor(
    private readonly metrics?: Metrics,
    api?: EnvoyApi,
  ) {
    this.builder = new SnapshotBuilder(api ?? loadEnvoyApi());
  }

  /** Installs (or clears) a fault hook and re-translates everything with it (what was serving stays the fallback). */
  setResourceHook(hook: ResourceHook | undefined): void {
    this.builder.hook = hook;
    for (const stored of this.configVariants.values()) stored.fresh = false;
    for (const variants of this.endpointVariants.values()) for (const stored of variants.values()) stored.fresh = false;
    if (this.ready) for (const listener of this.listeners) listener({ config: true, clusters: new Set(this.eds().list) });
  }

  isReady(): boolean {
    return this.ready;
  }

  /** Every variant is built on demand here: ready for one view when ready at all. */
  isReadyFor(_view: ProxyView): boolean {
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
    let config =
      !this.ready ||
      (previous.routes !== next.routes && JSON.stringify(previous.routes) !== JSON.stringify(next.routes)) ||
      (previous.policies !== next.policies && JSON.stringify(previous.policies) !== JSON.stringify(next.policies));
    // Every key of either model, in the order of a union of both (previous first), without building that union per change.
    const visit = (before: MeshService | undefined, after: MeshService | undefined): void => {
      if (before === after) return;
      const configChanged = !before || !after || configFingerprint(before) !== configFingerprint(after);
      if (configChanged) config = true;
      // A cluster's endpoints change with its endpoints or with its settings (failover policy, ports).
      if (configChanged || JSON.stringify(before.endpoints) !== JSON.stringify(after.endpoints)) {
        for (const service of [before, after]) {
          for (const port of service?.ports ?? []) changedClusters.add(clusterName(service?.namespace ?? '', service?.name ?? '', port.port));
        }
      }
    };
    let kept = 0;
    for (const [key, before] of previous.services) {
      const after = next.services.get(key);
      if (after) kept++;
      visit(before, after);
    }
    // Only when the next model has keys the previous one had not (new services).
    if (kept < next.services.size) for (const [key, after] of next.services) if (!previous.services.has(key)) visit(undefined, after);
    this.model = next;
    this.edsNames = undefined;
    this.ready = true;
    if (config) for (const stored of this.configVariants.values()) stored.fresh = false;
    const eds = this.eds().set;
    for (const cluster of changedClusters) {
      const variants = this.endpointVariants.get(cluster);
      if (!variants) continue;
      if (!eds.has(cluster)) {
        this.endpointVariants.delete(cluster);
        for (const key of variants.keys()) this.endpointRejections.delete(`${cluster}|${key}`);
      } else for (const stored of variants.values()) stored.fresh = false;
    }
    this.metrics?.snapshots.inc({ kind: config ? 'config' : 'endpoints' });
    const change: CacheChange = { config, clusters: changedClusters, appliedAt: performance.now() };
    if (config || changedClusters.size > 0) for (const listener of this.listeners) listener(change);
    return change;
  }

  /**
   * Publishes one workload identity's SDS secrets (validated and encoded like any
   * resource) and tells its streams; an empty list forgets the identity.
   */
  setSecrets(identityKey: string, secrets: readonly object[]): void {
    if (secrets.length === 0) this.secretSets.delete(identityKey);
    else {
      const map = new Map<string, EncodedResource>();
      for (const json of secrets) {
        const encoded = this.builder.encode(SECRET, json);
        // Never log the issues' values here: a secret's fields are key material.
        if (Array.isArray(encoded)) this.log.error('secret not published', { identity: identityKey, paths: encoded.map((i) => i.path) });
        else map.set(encoded.name, encoded);
      }
      this.secretSets.set(identityKey, { map, version: setVersion(map.values()) });
    }
    const change: CacheChange = { config: false, clusters: new Set(), identities: new Set([identityKey]), appliedAt: performance.now() };
    for (const listener of this.listeners) listener(change);
  }

  /** One identity's SDS secrets, if published. */
  secretSet(identityKey: string): ResourceSet | undefined {
    return this.secretSets.get(identityKey);
  }

  /** The view a new stream reads through; pair with `release` when the stream ends. */
  viewFor(info: ProxyInfo, identityKey?: string): ProxyView {
    const view = viewOf(info, identityKey);
    this.configReaders.set(view.configKey, (this.configReaders.get(view.configKey) ?? 0) + 1);
    this.endpointReaders.set(view.endpointKey, (this.endpointReaders.get(view.endpointKey) ?? 0) + 1);
    return view;
  }

  /** A stream no longer reads through `view`: variants nobody reads any more are dropped. */
  release(view: ProxyView): void {
    if (decrement(this.configReaders, view.configKey) === 0) this.configVariants.delete(view.configKey);
    if (decrement(this.endpointReaders, view.endpointKey) === 0) {
      for (const [cluster, variants] of this.endpointVariants) {
        variants.delete(view.endpointKey);
        this.endpointRejections.delete(`${cluster}|${view.endpointKey}`);
        if (variants.size === 0) this.endpointVariants.delete(cluster);
      }
    }
  }

  /** How many config and endpoint variants are held (for tests and the admin API). */
  variantCounts(): { config: number; endpoints: number } {
    let endpoints = 0;
    for (const variants of this.endpointVariants.values()) endpoints += variants.size;
    return { config: this.configVariants.size, endpoints };
  }

  /**
   * The clusters this client was sent endpoints for of which it will use none (a
   * gRPC client drops unweighted localities, gRFC A27), so the admin API never shows
   * such a client as healthy.
   */
  clustersWithoutUsableEndpoints(view: ProxyView): string[] {
    if (!view.translation.usableEndpoints) return [];
    return this.eds().list.filter((cluster) => this.endpointVariants.get(cluster)?.get(view.endpointKey)?.usable === 0);
  }

  /** What this proxy was asked to do but cannot, for the admin API. */
  degradedFor(view: ProxyView): readonly string[] {
    return this.configSet(view).degraded;
  }

  /** The full set of one config type (LDS/RDS/CDS) for a proxy's variant. */
  resourceSet(view: ProxyView, typeUrl: TypeUrl): ResourceSet {
    if (typeUrl === SECRET) return (view.identityKey ? this.secretSets.get(view.identityKey) : undefined) ?? EMPTY_SET;
    return this.configSet(view).byType.get(typeUrl as ConfigType) ?? EMPTY_SET;
  }

  /** One resource by name, or undefined if the proxy's variant has no such resource. */
  resource(view: ProxyView, typeUrl: TypeUrl, name: string): EncodedResource | undefined {
    return typeUrl === ENDPOINT ? this.endpoints(view, name) : this.resourceSet(view, typeUrl).map.get(name);
  }

  /** All EDS cluster names of the current model. */
  endpointNames(): readonly string[] {
    return this.eds().list;
  }

  resources(view: ProxyView, typeUrl: TypeUrl, names: ReadonlySet<string> | 'all'): Map<string, EncodedResource> {
    if (typeUrl === ENDPOINT) {
      const out = new Map<string, EncodedResource>();
      for (const name of names === 'all' ? this.eds().list : names) {
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

  /** Resources not published as translated (validation or set check) in the last build of each variant, with what serves instead. */
  rejectedResources(): Rejection[] {
    const out: Rejection[] = [];
    for (const stored of this.configVariants.values()) out.push(...stored.set.rejections);
    out.push(...this.endpointRejections.values());
    return out;
  }

  private eds(): { list: string[]; set: Set<string> } {
    if (!this.edsNames) {
      const list = edsClusterNames(this.model);
      this.edsNames = { list, set: new Set(list) };
    }
    return this.edsNames;
  }

  /** The EDS names a view may see (exportTo), for a worker that answers EDS requests from its mirror. */
  visibleEndpointNames(view: ProxyView): string[] {
    return this.eds().list.filter((cluster) => view.translation.sees(this.model, cluster));
  }

  /**
   * The CLA of one cluster for a view's endpoint variant, whoever may see it: a worker
   * mirrors endpoint variants shared across namespaces and checks visibility itself.
   */
  endpointVariant(view: ProxyView, cluster: string): EncodedResource | undefined {
    return this.endpoints(view, cluster, false);
  }

  private endpoints(view: ProxyView, cluster: string, checkVisibility = true): EncodedResource | undefined {
    // Names the model does not have never allocate state: a client may ask for anything,
    // and never gets the endpoints of a service not exported to its namespace.
    if (!this.eds().set.has(cluster) || (checkVisibility && !view.translation.sees(this.model, cluster))) return undefined;
    let variants = this.endpointVariants.get(cluster);
    if (!variants) {
      variants = new Map();
      this.endpointVariants.set(cluster, variants);
    }
    const stored = variants.get(view.endpointKey);
    if (stored?.fresh) return stored.resource;
    const started = process.hrtime.bigint();
    const built = this.builder.buildEndpoints(this.model, view.translation, cluster, stored?.resource);
    const countUsable = view.translation.usableEndpoints;
    variants.set(view.endpointKey, {
      ...(built.resource ? { resource: built.resource } : {}),
      fresh: true,
      // What is actually sent (after any fault hook) decides: zero usable endpoints must not pass for healthy.
      ...(countUsable ? { usable: built.resource ? countUsable(built.resource.json as ClusterLoadAssignment) : 0 } : {}),
    });
    const rejectionKey = `${cluster}|${view.endpointKey}`;
    if (built.rejection) {
      this.endpointRejections.set(rejectionKey, built.rejection);
      this.report(built.rejection);
    } else this.endpointRejections.delete(rejectionKey);
    this.metrics?.translationSeconds.observe({ kind: 'endpoints' }, Number(process.hrtime.bigint() - started) / 1e9);
    return built.resource;
  }

  private configSet(view: ProxyView): ConfigSet {
    const stored = this.configVariants.get(view.configKey);
    if (stored?.fresh) return stored.set;
    const started = process.hrtime.bigint();
    const set = this.builder.buildConfig(this.model, view.translation, this.eds().set, stored?.set);
    for (const rejection of set.rejections) this.report(rejection);
    // A variant read without a registered view (tests, the admin API) is still stored: it is bounded by the model.
    this.configVariants.set(view.configKey, { set, fresh: true });
    this.metrics?.translationSeconds.observe({ kind: 'config' }, Number(process.hrtime.bigint() - started) / 1e9);
    return set;
  }

  private report(rejection: Rejection): void {
    this.metrics?.rejectedResources.inc({ type: SHORT_NAME[rejection.typeUrl as TypeUrl], reason: rejection.reason });
    this.log.error('resource not published', {
      type: SHORT_NAME[rejection.typeUrl as TypeUrl],
      name: rejection.name,
      variant: rejection.variant,
      reason: rejection.reason,
      issues: rejection.issues.slice(0, 5),
      keeping: rejection.keeping ?? 'nothing (no earlier consistent version)',
    });
  }
}

/** A view of a proxy without registering it as a reader (the primary's admin API, for proxies on workers). */
export function viewOf(info: ProxyInfo, identityKey?: string): ProxyView {
  const translation = translationFor(info);
  return {
    info,
    translation,
    profile: translation.profile,
    configKey: translation.configKey,
    endpointKey: translation.endpointKey,
    ...(identityKey ? { identityKey } : {}),
  };
}

function decrement(counts: Map<string, number>, key: string): number {
  const left = (counts.get(key) ?? 1) - 1;
  if (left <= 0) counts.delete(key);
  else counts.set(key, left);
  return Math.max(left, 0);
}
