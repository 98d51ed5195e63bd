/**
 * Serving from every core (`meshcp serve --workers N`): the primary process owns the
 * sources, the model and the snapshot cache — every variant is translated and encoded
 * once, there — and xDS workers serve streams from a mirror of the encoded variants
 * their proxies read. Versions are the primary's content hashes, so a proxy sees the
 * same version whichever worker it lands on.
 *
 * - A worker whose stream needs a variant it does not hold (a config key, an endpoint
 *   key, a namespace's EDS visibility) asks for it (`want`); the stream waits
 *   (`isReadyFor`) until the primary sends it. When its last reader leaves, the worker
 *   drops it and says so (`unwant`), and the primary forgets it.
 * - On every cache change the primary sends each worker, in one message, the new
 *   encoded sets of the variants it holds and then the change itself, so a worker's
 *   streams always read data at least as new as the change they are told about.
 *
 * Bytes travel as `Any` encodings only (the resource's value is their tail), without
 * the translator JSON: a worker never shows config dumps; the primary's admin API does.
 */

import type { ProxyInfo } from '@meshcp/translators';
import { CLUSTER, ENDPOINT, type EncodedResource, LISTENER, ROUTE, SECRET, type TypeUrl } from '@meshcp/xds-protos';
import { type ConfigType, EMPTY_SET, type ResourceSet } from '../snapshot/builder.js';
import type { ServingCache } from './serving-cache.js';
import { type CacheChange, type ProxyView, type SnapshotCache, viewOf } from './snapshot-cache.js';

const CONFIG_TYPES: readonly ConfigType[] = [CLUSTER, LISTENER, ROUTE] as ConfigType[];

/** One encoded resource on the wire: its `Any` bytes, the value being their last `valueLength` bytes. */
export interface WireResource {
  name: string;
  typeUrl: string;
  version: string;
  any: Uint8Array;
  valueLength: number;
}

export interface WireSet {
  version: string;
  resources: WireResource[];
}

export interface WireChange {
  config: boolean;
  clusters: string[];
  identities?: string[];
  /** Epoch ms (performance clocks differ between processes). */
  appliedAtEpochMs?: number;
}

/** Primary → worker: encoded variants (and the change they carry, applied after them). */
export interface MirrorUpdate {
  t: 'mirror';
  ready: boolean;
  /** The model's EDS names, when they may have changed. */
  eds?: string[];
  /** Namespace → EDS names it may see, for the namespaces the worker holds. */
  visibility?: [string, string[]][];
  /** Config key → its LDS/RDS/CDS sets and degraded features. */
  configs?: [string, { sets: [ConfigType, WireSet][]; degraded: string[] }][];
  /** Endpoint key → cluster → CLA (null: the cluster has none any more). */
  endpoints?: [string, [string, WireResource | null][]][];
  /** Identity → its SDS secrets (null: forgotten). */
  secrets?: [string, WireSet | null][];
  change?: WireChange;
  /** A variant the worker asked for arrived: its waiting streams are told. */
  arrived?: boolean;
}

/** Worker → primary: the variants its streams read. */
export type MirrorRequest =
  | { t: 'want'; info: ProxyInfo; identityKey?: string }
  | { t: 'unwant'; configKey?: string; endpointKey?: string; namespace?: string };

function toWire(resource: EncodedResource): WireResource {
  return { name: resource.name, typeUrl: resource.typeUrl, version: resource.version, any: resource.any, valueLength: resource.value.length };
}

function setToWire(set: ResourceSet): WireSet {
  return { version: set.version, resources: [...set.map.values()].map(toWire) };
}

const NO_JSON = Object.freeze({});

function fromWire(wire: WireResource): EncodedResource {
  const any = wire.any;
  return { name: wire.name, typeUrl: wire.typeUrl, version: wire.version, any, value: any.subarray(any.length - wire.valueLength), json: NO_JSON };
}

function setFromWire(wire: WireSet): ResourceSet {
  return { version: wire.version, map: new Map(wire.resources.map((r) => [r.name, fromWire(r)])) };
}

function changeToWire(change: CacheChange): WireChange {
  return {
    config: change.config,
    clusters: [...change.clusters],
    ...(change.identities ? { identities: [...change.identities] } : {}),
    ...(change.appliedAt !== undefined ? { appliedAtEpochMs: performance.timeOrigin + change.appliedAt } : {}),
  };
}

function changeFromWire(wire: WireChange): CacheChange {
  return {
    config: wire.config,
    clusters: new Set(wire.clusters),
    ...(wire.identities ? { identities: new Set(wire.identities) } : {}),
    ...(wire.appliedAtEpochMs !== undefined ? { appliedAt: wire.appliedAtEpochMs - performance.timeOrigin } : {}),
  };
}

/** What one worker holds, as the primary tracks it. */
interface WorkerWants {
  send: (update: MirrorUpdate) => void;
  /** Config key → a registered view of it (holds the primary's variant). */
  configs: Map<string, ProxyView>;
  endpoints: Map<string, ProxyView>;
  namespaces: Map<string, ProxyView>;
}

/** The primary's side: builds and sends each worker the variants it holds. */
export class VariantFeed {
  private readonly workers = new Map<number, WorkerWants>();
  private readonly unsubscribe: () => void;

  constructor(private readonly cache: SnapshotCache) {
    this.unsubscribe = cache.onChange((change) => this.onCacheChange(change));
  }

  addWorker(id: number, send: (update: MirrorUpdate) => void): void {
    this.workers.set(id, { send, configs: new Map(), endpoints: new Map(), namespaces: new Map() });
  }

  /** A worker is gone: the variants only it read are released. */
  removeWorker(id: number): void {
    const wants = this.workers.get(id);
    if (!wants) return;
    this.workers.delete(id);
    for (const view of [...wants.configs.values(), ...wants.endpoints.values(), ...wants.namespaces.values()]) this.cache.release(view);
  }

  handle(id: number, request: MirrorRequest): void {
    const wants = this.workers.get(id);
    if (!wants) return;
    if (request.t === 'unwant') {
      const drop = (map: Map<string, ProxyView>, key: string | undefined) => {
        const view = key === undefined ? undefined : map.get(key);
        if (view && key !== undefined) {
          map.delete(key);
          this.cache.release(view);
        }
      };
      drop(wants.configs, request.configKey);
      drop(wants.endpoints, request.endpointKey);
      drop(wants.namespaces, request.namespace);
      return;
    }
    const probe = viewOf(request.info);
    const update: MirrorUpdate = { t: 'mirror', ready: this.cache.isReady(), arrived: true };
    // Before the first model nothing is sent but the registration: the first model's change brings every held key.
    if (!wants.configs.has(probe.configKey)) {
      const view = this.cache.viewFor(request.info);
      wants.configs.set(probe.configKey, view);
      if (this.cache.isReady()) update.configs = [this.configEntry(view)];
    }
    if (!wants.endpoints.has(probe.endpointKey)) {
      const view = this.cache.viewFor(request.info);
      wants.endpoints.set(probe.endpointKey, view);
      if (this.cache.isReady()) update.endpoints = [[probe.endpointKey, this.cache.endpointNames().map((cluster) => this.endpointEntry(view, cluster))]];
    }
    const namespace = request.info.namespace;
    if (!wants.namespaces.has(namespace)) {
      const view = this.cache.viewFor(request.info);
      wants.namespaces.set(namespace, view);
      if (this.cache.isReady()) update.visibility = [[namespace, this.cache.visibleEndpointNames(view)]];
    }
    if (this.cache.isReady()) update.eds = [...this.cache.endpointNames()];
    if (request.identityKey) {
      const secrets = this.cache.resourceSet(viewOf(request.info, request.identityKey), SECRET);
      if (secrets !== EMPTY_SET) update.secrets = [[request.identityKey, setToWire(secrets)]];
    }
    wants.send(update);
  }

  stop(): void {
    this.unsubscribe();
  }

  private configEntry(view: ProxyView): [string, { sets: [ConfigType, WireSet][]; degraded: string[] }] {
    return [
      view.configKey,
      { sets: CONFIG_TYPES.map((type) => [type, setToWire(this.cache.resourceSet(view, type))]), degraded: [...this.cache.degradedFor(view)] },
    ];
  }

  private endpointEntry(view: ProxyView, cluster: string): [string, WireResource | null] {
    const resource = this.cache.endpointVariant(view, cluster);
    return [cluster, resource ? toWire(resource) : null];
  }

  private onCacheChange(change: CacheChange): void {
    const wire = changeToWire(change);
    const secrets: [string, WireSet | null][] = [];
    for (const identity of change.identities ?? []) {
      // Any view with this identity reads the identity's secrets; the set is the same for all.
      const set = this.cache.secretSet(identity);
      secrets.push([identity, set ? setToWire(set) : null]);
    }
    // What is the same for every worker, computed once per change.
    const ready = this.cache.isReady();
    const eds = change.config ? [...this.cache.endpointNames()] : undefined;
    // A config change may add clusters whose endpoints the worker has never had.
    // Clusters no longer in the model are sent as null (dropped).
    const clusters = eds ? [...new Set([...eds, ...change.clusters])] : [...change.clusters];
    for (const wants of this.workers.values()) {
      const update: MirrorUpdate = { t: 'mirror', ready, change: wire };
      if (eds) {
        update.eds = eds;
        update.configs = [...wants.configs.values()].map((view) => this.configEntry(view));
        update.visibility = [...wants.namespaces].map(([namespace, view]) => [namespace, this.cache.visibleEndpointNames(view)]);
      }
      if (clusters.length > 0 && wants.endpoints.size > 0) {
        update.endpoints = [...wants.endpoints].map(([key, view]) => [key, clusters.map((cluster) => this.endpointEntry(view, cluster))]);
      }
      if (secrets.length > 0) update.secrets = secrets;
      wants.send(update);
    }
  }
}

/** A worker's side: the encoded variants its streams read, kept current by the primary. */
export class MirrorCache implements ServingCache {
  private ready = false;
  private eds: readonly string[] = [];
  private edsSet: ReadonlySet<string> = new Set();
  private readonly visibility = new Map<string, ReadonlySet<string>>();
  private readonly configs = new Map<string, { sets: Map<ConfigType, ResourceSet>; degraded: readonly string[] }>();
  private readonly endpoints = new Map<string, Map<string, EncodedResource>>();
  private readonly secrets = new Map<string, ResourceSet>();
  private readonly configReaders = new Map<string, number>();
  private readonly endpointReaders = new Map<string, number>();
  private readonly namespaceReaders = new Map<string, number>();
  private readonly listeners = new Set<(change: CacheChange) => void>();

  constructor(private readonly request: (request: MirrorRequest) => void) {}

  isReady(): boolean {
    return this.ready;
  }

  isReadyFor(view: ProxyView): boolean {
    return this.ready && this.configs.has(view.configKey) && this.endpoints.has(view.endpointKey) && this.visibility.has(view.info.namespace);
  }

  onChange(listener: (change: CacheChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  viewFor(info: ProxyInfo, identityKey?: string): ProxyView {
    const view = viewOf(info, identityKey);
    const fresh = [
      increment(this.configReaders, view.configKey),
      increment(this.endpointReaders, view.endpointKey),
      increment(this.namespaceReaders, info.namespace),
    ].some((count) => count === 1);
    // A new identity's secrets come with its certificate (the primary issues it before the stream reads).
    if (fresh) this.request({ t: 'want', info, ...(identityKey ? { identityKey } : {}) });
    return view;
  }

  release(view: ProxyView): void {
    const unwant: { configKey?: string; endpointKey?: string; namespace?: string } = {};
    if (decrement(this.configReaders, view.configKey) === 0) {
      this.configs.delete(view.configKey);
      unwant.configKey = view.configKey;
    }
    if (decrement(this.endpointReaders, view.endpointKey) === 0) {
      this.endpoints.delete(view.endpointKey);
      unwant.endpointKey = view.endpointKey;
    }
    if (decrement(this.namespaceReaders, view.info.namespace) === 0) {
      this.visibility.delete(view.info.namespace);
      unwant.namespace = view.info.namespace;
    }
    if (Object.keys(unwant).length > 0) this.request({ t: 'unwant', ...unwant });
  }

  endpointNames(): readonly string[] {
    return this.eds;
  }

  resourceSet(view: ProxyView, typeUrl: TypeUrl): ResourceSet {
    if (typeUrl === SECRET) return (view.identityKey ? this.secrets.get(view.identityKey) : undefined) ?? EMPTY_SET;
    return this.configs.get(view.configKey)?.sets.get(typeUrl as ConfigType) ?? EMPTY_SET;
  }

  resource(view: ProxyView, typeUrl: TypeUrl, name: string): EncodedResource | undefined {
    if (typeUrl !== ENDPOINT) return this.resourceSet(view, typeUrl).map.get(name);
    if (!this.edsSet.has(name) || !this.visibility.get(view.info.namespace)?.has(name)) return undefined;
    return this.endpoints.get(view.endpointKey)?.get(name);
  }

  degradedFor(view: ProxyView): readonly string[] {
    return this.configs.get(view.configKey)?.degraded ?? [];
  }

  /** Applies a message from the primary, then tells the streams what changed. */
  apply(update: MirrorUpdate): void {
    this.ready ||= update.ready;
    if (update.eds) {
      this.eds = update.eds;
      this.edsSet = new Set(update.eds);
    }
    // Data for a key nobody here reads any more (released while it travelled) is dropped.
    for (const [namespace, names] of update.visibility ?? []) if (this.namespaceReaders.has(namespace)) this.visibility.set(namespace, new Set(names));
    for (const [key, entry] of update.configs ?? []) {
      if (!this.configReaders.has(key)) continue;
      this.configs.set(key, { sets: new Map(entry.sets.map(([type, set]) => [type, setFromWire(set)])), degraded: entry.degraded });
    }
    for (const [key, clusters] of update.endpoints ?? []) {
      if (!this.endpointReaders.has(key)) continue;
      let held = this.endpoints.get(key);
      if (!held) {
        held = new Map();
        this.endpoints.set(key, held);
      }
      for (const [cluster, resource] of clusters) {
        if (resource) held.set(cluster, fromWire(resource));
        else held.delete(cluster);
      }
    }
    for (const [identity, set] of update.secrets ?? []) {
      if (set) this.secrets.set(identity, setFromWire(set));
      else this.secrets.delete(identity);
    }
    let change = update.change ? changeFromWire(update.change) : undefined;
    // Streams that waited for a variant are owed everything, their SDS secrets included: told as a
    // full change naming every identity held (a stream that asked only for SDS, like `meshcp agent`,
    // would otherwise wait for the next renewal).
    if (update.arrived) change = { config: true, clusters: this.edsSet, identities: new Set([...this.secrets.keys(), ...(change?.identities ?? [])]) };
    if (change) for (const listener of this.listeners) listener(change);
  }
}

function increment(counts: Map<string, number>, key: string): number {
  const next = (counts.get(key) ?? 0) + 1;
  counts.set(key, next);
  return next;
}

function decrement(counts: Map<string, number>, key: string): number {
  const left = (counts.get(key) ?? 1) - 1;
  if (left <= 0) counts.delete(key);
  else counts.set(key, left);
  return Math.max(left, 0);
}
