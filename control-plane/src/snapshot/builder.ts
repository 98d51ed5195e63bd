/**
 * The snapshot builder: turns (model, one proxy translation) into a complete,
 * validated, encoded resource set, ready for the cache to store and streams to
 * send. Translators stay pure; this stage adds what publishing needs:
 *  - every resource is PGV-checked and encoded once;
 *  - the set is checked as a whole: every listener's route configurations and
 *    clusters, every route's clusters, and every EDS cluster's endpoints exist in
 *    what is published (go-control-plane checks this in `Snapshot.Consistent()`);
 *  - a resource that fails either check is replaced by its version in the previous
 *    consistent set of the same variant, or left out when it had none — and so is
 *    whatever names it, until the set is consistent again.
 */
import type { ClientProfile, MeshModel, ProxyTranslation } from '@meshcp/translators';
import {
  CLUSTER,
  checkAndEncodeResource,
  ENDPOINT,
  type EncodedResource,
  type EnvoyApi,
  FieldPathError,
  LISTENER,
  ROUTE,
  resourceName,
  setVersion,
  type TypeUrl,
} from '@meshcp/xds-protos';
import { clusterReferences, listenerReferences, type References, routeConfigurationReferences } from './references.js';

/** The config types a variant holds, in the order their dependencies are settled. */
export const CONFIG_TYPES = [CLUSTER, ROUTE, LISTENER] as const;
export type ConfigType = (typeof CONFIG_TYPES)[number];

/** A variant's full set of one type, shared (never copied) by every stream that reads it. */
export interface ResourceSet {
  readonly map: ReadonlyMap<string, EncodedResource>;
  /** Content hash of the set: the SotW `version_info` of LDS/CDS. */
  readonly version: string;
}

export const EMPTY_SET: ResourceSet = { map: new Map(), version: setVersion([]) };

export interface Rejection {
  typeUrl: string;
  name: string;
  variant: string;
  reason: 'validation' | 'dangling-reference';
  issues: { path: string; message: string }[];
  /** The version that serves instead, or undefined when nothing does. */
  keeping?: string;
}

/** One published resource and what it names, so a later build can fall back to it. */
interface Published {
  readonly resource: EncodedResource;
  readonly refs: References;
}

/** The consistent LDS/RDS/CDS of one variant. */
export interface ConfigSet {
  readonly byType: ReadonlyMap<ConfigType, ResourceSet>;
  /** Features the model asks for that this client kind or version cannot honour. */
  readonly degraded: readonly string[];
  readonly rejections: readonly Rejection[];
  /** @internal what the next build of this variant falls back to */
  readonly published: ReadonlyMap<ConfigType, ReadonlyMap<string, Published>>;
  /** @internal */
  readonly profile: ClientProfile;
}

/**
 * Rewrites translator output before it is validated and published. Only for
 * planting faults in tests and in the compatibility matrix (e.g. a resource that
 * passes validation but one Envoy version rejects); never set in production. The
 * third argument says which proxies the resources are for (`info.version`,
 * `info.clientKind`, `profile`): the same fields a cache view has.
 */
export type ResourceHook = (typeUrl: TypeUrl, resources: object[], target: Pick<ProxyTranslation, 'info' | 'profile' | 'family'>) => object[];

function referencesOf(typeUrl: ConfigType, json: object): References {
  if (typeUrl === LISTENER) return listenerReferences(json);
  if (typeUrl === ROUTE) return routeConfigurationReferences(json);
  return clusterReferences(json);
}

export class SnapshotBuilder {
  hook?: ResourceHook;

  constructor(private readonly api: EnvoyApi) {}

  /** PGV-checks and encodes one resource; the issues when it cannot be published. */
  encode(typeUrl: TypeUrl, json: object): EncodedResource | { path: string; message: string }[] {
    try {
      return checkAndEncodeResource(this.api, typeUrl, json);
    } catch (error) {
      if (!(error instanceof FieldPathError)) throw error;
      return [{ path: error.path, message: error.detail }];
    }
  }

  /**
   * The LDS/RDS/CDS set of one variant. `edsClusters` are the clusters whose
   * endpoints the model can serve over EDS; `previous` is this variant's last
   * consistent set, if any.
   */
  buildConfig(model: MeshModel, translation: ProxyTranslation, edsClusters: ReadonlySet<string>, previous?: ConfigSet): ConfigSet {
    const variant = translation.configKey;
    const config = translation.config(model);
    const lists: Record<ConfigType, object[]> = { [CLUSTER]: config.clusters, [ROUTE]: config.routes, [LISTENER]: config.listeners };
    const rejections: Rejection[] = [];
    const candidate = new Map<ConfigType, Map<string, Published>>();
    for (const typeUrl of CONFIG_TYPES) {
      const entries = new Map<string, Published>();
      const list = this.hook ? this.hook(typeUrl, lists[typeUrl], translation) : lists[typeUrl];
      for (const json of list) {
        const name = resourceName(json);
        const encoded = this.encode(typeUrl, json);
        if (!Array.isArray(encoded)) {
          entries.set(name, { resource: encoded, refs: referencesOf(typeUrl, json) });
          continue;
        }
        const kept = previous?.published.get(typeUrl)?.get(name);
        if (kept) entries.set(name, kept);
        rejections.push({ typeUrl, name, variant, reason: 'validation', issues: encoded, keeping: kept?.resource.version });
      }
      candidate.set(typeUrl, entries);
    }
    settleReferences(candidate, edsClusters, previous, variant, rejections);
    const byType = new Map<ConfigType, ResourceSet>();
    for (const [typeUrl, entries] of candidate) {
      const map = new Map<string, EncodedResource>();
      for (const [name, entry] of entries) map.set(name, entry.resource);
      byType.set(typeUrl, { map, version: setVersion(map.values()) });
    }
    return { byType, degraded: config.degraded, rejections, published: candidate, profile: translation.profile };
  }

  /**
   * One ClusterLoadAssignment for a variant's locality, or the reason it cannot be
   * published (then `previous`, its last good version, keeps serving).
   */
  buildEndpoints(
    model: MeshModel,
    translation: ProxyTranslation,
    cluster: string,
    previous?: EncodedResource,
  ): { resource?: EncodedResource; rejection?: Rejection } {
    let json: object | undefined = translation.endpoints(model, cluster);
    if (json && this.hook) json = this.hook(ENDPOINT, [json], translation)[0];
    if (!json) return {};
    const encoded = this.encode(ENDPOINT, json);
    if (!Array.isArray(encoded)) return { resource: encoded };
    const rejection: Rejection = {
      typeUrl: ENDPOINT,
      name: cluster,
      variant: translation.endpointKey,
      reason: 'validation',
      issues: encoded,
      keeping: previous?.version,
    };
    return { ...(previous ? { resource: previous } : {}), rejection };
  }
}

/**
 * Drops or rolls back resources until nothing names what is not published. Each
 * pass replaces a resource with a dangling reference by its previous version (when
 * that one's references are all present) or removes it; removing can make its
 * referrers dangle in turn, so passes repeat until none changes anything.
 */
function settleReferences(
  candidate: Map<ConfigType, Map<string, Published>>,
  edsClusters: ReadonlySet<string>,
  previous: ConfigSet | undefined,
  variant: string,
  rejections: Rejection[],
): void {
  const clusters = candidate.get(CLUSTER) as Map<string, Published>;
  const routes = candidate.get(ROUTE) as Map<string, Published>;
  const missing = (refs: References): string[] => [
    ...refs.routes.filter((name) => !routes.has(name)).map((name) => `route configuration ${JSON.stringify(name)}`),
    ...refs.clusters.filter((name) => !clusters.has(name)).map((name) => `cluster ${JSON.stringify(name)}`),
    // An EDS cluster whose endpoints the model cannot serve would stay warming forever.
    ...refs.endpoints.filter((name) => !edsClusters.has(name)).map((name) => `endpoints ${JSON.stringify(name)}`),
  ];
  // Every reference present, asked once per resource per pass: without building the message lists.
  const complete = (refs: References): boolean =>
    refs.routes.every((name) => routes.has(name)) && refs.clusters.every((name) => clusters.has(name)) && refs.endpoints.every((name) => edsClusters.has(name));
  for (let changed = true; changed; ) {
    changed = false;
    for (const typeUrl of CONFIG_TYPES) {
      const entries = candidate.get(typeUrl) as Map<string, Published>;
      for (const [name, entry] of entries) {
        if (complete(entry.refs)) continue;
        const dangling = missing(entry.refs);
        changed = true;
        const fallback = previous?.published.get(typeUrl)?.get(name);
        const usable = fallback && fallback !== entry && complete(fallback.refs) ? fallback : undefined;
        if (usable) entries.set(name, usable);
        else entries.delete(name);
        rejections.push({
          typeUrl,
          name,
          variant,
          reason: 'dangling-reference',
          issues: [{ path: '', message: `names what is not published: ${dangling.join(', ')}` }],
          keeping: usable?.resource.version,
        });
      }
    }
  }
}
