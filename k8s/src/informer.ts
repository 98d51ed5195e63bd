/**
 * List + watch of one resource type, cluster-wide, keeping a store of projected
 * objects (only the fields meshcp uses). The rules it follows:
 *
 * - List, then watch from the list's resourceVersion with bookmarks, so a quiet
 *   watch still advances its resourceVersion and a reconnect does not need a relist.
 * - 410 Gone (the resourceVersion was compacted away) → relist. The relist fills a
 *   NEW store and swaps it in whole: the store never holds a partial list, and is
 *   never empty because of a relist (Contour #1178: a partial snapshot means 404s).
 * - The API server goes away → keep the store as it is (the last good view) and
 *   reconnect with jittered exponential backoff, resuming from the last
 *   resourceVersion seen.
 * - An event whose projection equals the stored one is dropped: a Pod label or a
 *   Node heartbeat that meshcp does not read never triggers work.
 * - `optional` resources (CRDs that may not be installed): a 404 counts as an
 *   empty, synced list, and the resource is looked for again every `absentRecheckMs`.
 */
import { ApiError, type KubeClient, type WatchEvent, type WatchHandle } from './client.js';
import type { Logger } from './log.js';

export interface ResourceType {
  /** For logs and errors, e.g. `endpointslices.discovery.k8s.io`. */
  name: string;
  /** The cluster-wide collection path, e.g. `/apis/discovery.k8s.io/v1/endpointslices`. */
  path: string;
  /** A 404 means "not installed": an empty, synced list, checked again later. */
  optional?: boolean;
}

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

export interface InformerOptions {
  backoff?: Backoff;
  /** How long the server may keep one watch open before it ends it (we then re-watch). */
  watchTimeoutSeconds?: number;
  absentRecheckMs?: number;
  pageSize?: number;
}

export type InformerState = 'listing' | 'connecting' | 'watching' | 'absent' | 'disconnected' | 'stopped';

export interface InformerStats {
  resource: string;
  state: InformerState;
  synced: boolean;
  resourceVersion: string;
  objects: number;
  lists: number;
  watches: number;
  /** Events whose projection differed from the stored one. */
  changes: number;
  /** Events dropped because nothing meshcp reads had changed. */
  ignored: number;
  lastError?: string;
}

interface Entry<T> {
  value: T;
  json: string;
}

/** The next delay of a jittered exponential backoff (±20 %), for attempt n (0-based). */
export function backoffDelay(backoff: Backoff, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 20));
  return Math.round(base * (0.8 + 0.4 * random()));
}

export function objectKey(object: Record<string, unknown>): string {
  const metadata = (object.metadata ?? {}) as { name?: string; namespace?: string };
  return metadata.namespace ? `${metadata.namespace}/${metadata.name}` : String(metadata.name);
}

function resourceVersionOf(object: Record<string, unknown>): string | undefined {
  return (object.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
}

class GoneError extends Error {}

export class Informer<T> {
  private store = new Map<string, Entry<T>>();
  private resourceVersion = '';
  private stopped = false;
  private absent = false;
  private watchHandle?: WatchHandle;
  private wake?: () => void;
  private readonly stats: InformerStats;
  private syncedResolve!: () => void;
  /** Resolves once the first list (or, for an optional resource, a 404) is in. */
  readonly synced: Promise<void> = new Promise((resolve) => {
    this.syncedResolve = resolve;
  });
  private readonly backoff: Backoff;
  private readonly watchTimeoutSeconds: number;
  private readonly absentRecheckMs: number;
  private readonly pageSize: number;

  constructor(
    private readonly client: KubeClient,
    readonly resource: ResourceType,
    /** Keeps the fields meshcp reads; undefined leaves the object out. Must build keys in a fixed order. */
    private readonly project: (object: Record<string, unknown>) => T | undefined,
    private readonly onChange: () => void,
    private readonly log: Logger,
    options: InformerOptions = {},
  ) {
    this.backoff = options.backoff ?? { initialMs: 250, maxMs: 8000 };
    this.watchTimeoutSeconds = options.watchTimeoutSeconds ?? 300;
    this.absentRecheckMs = options.absentRecheckMs ?? 10_000;
    this.pageSize = options.pageSize ?? 500;
    this.stats = { resource: resource.name, state: 'listing', synced: false, resourceVersion: '', objects: 0, lists: 0, watches: 0, changes: 0, ignored: 0 };
  }

  start(): void {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.stats.state = 'stopped';
    this.watchHandle?.abort();
    this.wake?.();
  }

  values(): T[] {
    return [...this.store.values()].map((e) => e.value);
  }

  get(key: string): T | undefined {
    return this.store.get(key)?.value;
  }

  status(): InformerStats {
    return { ...this.stats, resourceVersion: this.resourceVersion, objects: this.store.size };
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        if (this.resourceVersion === '') await this.relist();
        if (this.stopped) break;
        const sawEvents = await this.watchOnce(() => {
          this.stats.state = 'watching';
          if (failures > 0) this.log.info('reconnected', { resource: this.resource.name, afterFailures: failures, resourceVersion: this.resourceVersion });
          failures = 0;
        });
        // A watch that ended cleanly (server-side timeout, or the server going away
        // gracefully) is resumed at once; one that got nowhere counts as a failure.
        if (sawEvents) failures = 0;
        else await this.sleep(backoffDelay(this.backoff, failures++));
      } catch (error) {
        if (this.stopped) break;
        if (error instanceof GoneError) {
          this.log.info('resourceVersion expired; relisting', { resource: this.resource.name, resourceVersion: this.resourceVersion });
          this.resourceVersion = '';
          continue;
        }
        if (this.resource.optional && error instanceof ApiError && error.statusCode === 404) {
          this.markAbsent();
          await this.sleep(this.absentRecheckMs);
          continue;
        }
        this.stats.state = 'disconnected';
        this.stats.lastError = (error as Error).message;
        const delay = backoffDelay(this.backoff, failures);
        // Once when the trouble starts, then now and then: not once per retry.
        if (failures % 20 === 0) {
          this.log.warn('API server unreachable; keeping the last good view and retrying', {
            resource: this.resource.name,
            error: (error as Error).message,
            failures,
            retryInMs: delay,
          });
        }
        failures++;
        await this.sleep(delay);
      }
    }
  }

  private markAbsent(): void {
    if (!this.absent) this.log.info('resource not installed; looking again every few seconds', { resource: this.resource.name, everyMs: this.absentRecheckMs });
    this.absent = true;
    this.stats.state = 'absent';
    this.resourceVersion = '';
    // The resource really is gone (CRD not installed or deleted): its objects are too.
    if (this.store.size > 0) {
      this.store = new Map();
      this.onChange();
    }
    this.markSynced();
  }

  private markSynced(): void {
    if (!this.stats.synced) {
      this.stats.synced = true;
      this.syncedResolve();
    }
  }

  /** Lists every page into a fresh store, then swaps it in whole. */
  private async relist(): Promise<void> {
    this.stats.state = 'listing';
    const fresh = new Map<string, Entry<T>>();
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      let page: Awaited<ReturnType<KubeClient['list']>>;
      try {
        page = await this.client.list(this.resource.path, this.pageSize, continueToken);
      } catch (error) {
        // An expired continue token: start the list over (the old store still serves).
        if (error instanceof ApiError && error.statusCode === 410 && continueToken) {
          fresh.clear();
          continueToken = undefined;
          continue;
        }
        throw error;
      }
      for (const item of page.items) {
        const value = this.project(item);
        if (value !== undefined) fresh.set(objectKey(item), { value, json: JSON.stringify(value) });
      }
      // The first page's resourceVersion is the snapshot the whole list is consistent with.
      if (!continueToken) resourceVersion = page.resourceVersion;
      continueToken = page.continueToken;
    } while (continueToken && !this.stopped);
    if (this.stopped) return;
    if (this.absent) this.log.info('resource installed; watching it', { resource: this.resource.name });
    this.absent = false;
    this.stats.lists++;
    const changed = fresh.size !== this.store.size || [...fresh].some(([key, entry]) => this.store.get(key)?.json !== entry.json);
    this.store = fresh;
    this.resourceVersion = resourceVersion;
    this.markSynced();
    if (changed) this.onChange();
  }

  /** Resolves with whether any event arrived, when the stream ends. */
  /** One watch request; `onConnected` runs once the server has answered 200. */
  private watchOnce(onConnected: () => void): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      let sawEvents = false;
      let finished = false;
      let connected = false;
      const onConnectedOnce = () => {
        if (connected) return;
        connected = true;
        onConnected();
      };
      let gone = false;
      let failed: unknown;
      // Watch streams can hang on a half-open connection; the server ends each
      // watch after timeoutSeconds, so silence well beyond that means it is dead.
      let silence: NodeJS.Timeout | undefined;
      const armSilenceTimer = () => {
        if (silence) clearTimeout(silence);
        silence = setTimeout(() => this.watchHandle?.abort(), (this.watchTimeoutSeconds + 30) * 1000);
        silence.unref();
      };
      const finish = (error: unknown) => {
        if (finished) return;
        finished = true;
        if (silence) clearTimeout(silence);
        this.watchHandle = undefined;
        if (gone) reject(new GoneError());
        else if (failed) reject(failed);
        else if (error && !this.stopped) reject(error);
        else resolve(sawEvents);
      };
      const onEvent = (event: WatchEvent) => {
        if (finished) return;
        armSilenceTimer();
        // The API server may hold back response headers until the first event.
        if (!sawEvents && this.stats.state === 'connecting') onConnectedOnce();
        if (event.type === 'ERROR') {
          const status = event.object as { code?: number; message?: string };
          if (status.code === 410) gone = true;
          else failed = new ApiError(status.code ?? 500, `watch ${this.resource.name}: ${status.message ?? 'error event'}`);
          this.watchHandle?.abort();
          return;
        }
        sawEvents = true;
        const resourceVersion = resourceVersionOf(event.object);
        if (resourceVersion) this.resourceVersion = resourceVersion;
        if (event.type === 'BOOKMARK') return;
        this.apply(event);
      };
      this.stats.state = 'connecting';
      this.stats.watches++;
      armSilenceTimer();
      const timeout = Math.round(this.watchTimeoutSeconds * (0.9 + 0.2 * Math.random()));
      this.client.watch(this.resource.path, this.resourceVersion, timeout, onEvent, finish).then((handle) => {
        if (finished) return;
        this.watchHandle = handle;
        if (this.stopped) handle.abort();
      }, finish);
    }).catch((error: unknown) => {
      if (error instanceof ApiError && error.statusCode === 410) throw new GoneError();
      const statusCode = (error as { statusCode?: number }).statusCode;
      if (statusCode === 410) throw new GoneError();
      if (statusCode !== undefined && !(error instanceof ApiError)) throw new ApiError(statusCode, `watch ${this.resource.name}: ${(error as Error).message}`);
      throw error;
    });
  }

  private apply(event: WatchEvent): void {
    const key = objectKey(event.object);
    const previous = this.store.get(key);
    const value = event.type === 'DELETED' ? undefined : this.project(event.object);
    if (value === undefined) {
      if (!previous) return void this.stats.ignored++;
      this.store.delete(key);
    } else {
      const json = JSON.stringify(value);
      if (previous?.json === json) return void this.stats.ignored++;
      this.store.set(key, { value, json });
    }
    this.stats.changes++;
    this.onChange();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}
