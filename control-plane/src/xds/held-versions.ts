import { createHash } from 'node:crypto';
import { SetDigest } from '@meshcp/xds-protos';
import { objectNumber } from './object-numbers.js';

/** A resource as a response carries it; the cache's objects are immutable and shared by every stream. */
export interface SentResource {
  readonly name: string;
  readonly version: string;
}

/** One change to a held set: a name's new version, or undefined when it is dropped. */
type Ops = ReadonlyMap<string, string | undefined>;

/** Transition keys longer than this are hashed (SHA-256) so a 1,000-resource response does not keep a long key alive. */
const MAX_PLAIN_KEY = 256;

/** Drops a transition from its parent once the set it led to is garbage. */
const transitions = new FinalizationRegistry<{ parent: WeakRef<HeldSet>; key: string }>(({ parent, key }) => parent.deref()?.forgetDead(key));

/**
 * An immutable name → version set with its digest, shared by every stream that holds
 * exactly it. Streams reach it by the same transition from the same set: 5,000 proxies
 * of one variant that took the same responses point at one map and one digest, not
 * 5,000 copies, and the digest of a 1,000-resource response is computed once, not once
 * per stream. A transition key is exact — resource numbers, or length-prefixed names and
 * versions — hashed with SHA-256 when long: never a digest a client could collide.
 */
/** A held set's versions are flattened into a new base once their changes exceed this many… */
const FLATTEN_AT_LEAST = 32;
/** …and this share of the base: so a transition copies O(changes), and flattening costs O(1) per change, amortised. */
const FLATTEN_SHARE = 1 / 8;

const NO_CHANGES: ReadonlyMap<string, string | undefined> = new Map();

/**
 * name → version as a base map shared by many sets plus the changes since it (undefined:
 * removed). A set one response away from another copies only the changes, not the 1,000
 * names of the base: under churn, streams take different paths (each response carries what
 * changed since that stream's last ACK), so most transitions are a stream's own, and
 * copying the whole map per response was most of a worker's CPU in the 5,000-proxy soak.
 */
class LayeredVersions implements Iterable<[string, string]> {
  constructor(
    readonly base: ReadonlyMap<string, string>,
    readonly changes: ReadonlyMap<string, string | undefined>,
    readonly size: number,
  ) {}

  get(name: string): string | undefined {
    const changes = this.changes;
    if (changes.size > 0 && changes.has(name)) return changes.get(name);
    return this.base.get(name);
  }

  *[Symbol.iterator](): Iterator<[string, string]> {
    const changes = this.changes;
    if (changes.size === 0) {
      yield* this.base;
      return;
    }
    for (const entry of this.base) if (!changes.has(entry[0])) yield entry;
    for (const [name, version] of changes) if (version !== undefined) yield [name, version];
  }

  /**
   * Whether `other` holds exactly the same: O(changes) when both share a base (a change
   * map is canonical for its base: no entry repeats the base), O(size) otherwise.
   */
  equals(other: LayeredVersions): boolean {
    if (other.size !== this.size) return false;
    if (other.base === this.base) return sameEntries(this.changes, other.changes);
    for (const [name, version] of this) if (other.get(name) !== version) return false;
    return true;
  }

  /** A draft of the next set's versions: this one's base, a copy of its changes. */
  draft(): VersionsDraft {
    return new VersionsDraft(this.base, new Map(this.changes), this.size);
  }
}

function sameEntries<V>(a: ReadonlyMap<string, V>, b: ReadonlyMap<string, V>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, value] of a) if (b.get(name) !== value || !b.has(name)) return false;
  return true;
}

class VersionsDraft {
  constructor(
    private readonly base: ReadonlyMap<string, string>,
    private readonly changes: Map<string, string | undefined>,
    private size: number,
  ) {}

  get(name: string): string | undefined {
    if (this.changes.has(name)) return this.changes.get(name);
    return this.base.get(name);
  }

  set(name: string, version: string): void {
    if (this.get(name) === undefined) this.size++;
    if (this.base.get(name) === version) this.changes.delete(name);
    else this.changes.set(name, version);
  }

  delete(name: string): void {
    if (this.get(name) === undefined) return;
    this.size--;
    if (this.base.has(name)) this.changes.set(name, undefined);
    else this.changes.delete(name);
  }

  finish(): LayeredVersions {
    if (this.changes.size <= Math.max(FLATTEN_AT_LEAST, this.base.size * FLATTEN_SHARE)) return new LayeredVersions(this.base, this.changes, this.size);
    const flat = new Map(this.base);
    for (const [name, version] of this.changes) {
      if (version === undefined) flat.delete(name);
      else flat.set(name, version);
    }
    return new LayeredVersions(flat, NO_CHANGES, flat.size);
  }
}

let nextSetId = 0;

class HeldSet {
  private readonly successors = new Map<string, WeakRef<HeldSet>>();
  private versionText?: string;
  /** Names this set among all sets of the process (shared-responses.ts keys responses by transition). */
  readonly id = ++nextSetId;

  constructor(
    readonly versions: LayeredVersions,
    private readonly digest: SetDigest,
  ) {}

  /** The digest of the set: equal sets give equal strings. */
  version(): string {
    this.versionText ??= this.digest.toString();
    return this.versionText;
  }

  /** The set after a stream's own changes (held claims, unsubscribes, a NACK's undo). */
  after(ops: Ops): HeldSet {
    if (ops.size === 0) return this;
    let key = 'o';
    for (const [name, version] of ops) key += `${name.length}:${name}${version === undefined ? '-' : `${version.length}:${version}`}`;
    return this.successor(key, (versions, digest) => {
      for (const [name, version] of ops) {
        const before = versions.get(name);
        if (version === undefined) {
          if (before !== undefined) digest.remove(name, before);
          versions.delete(name);
        } else {
          digest.set(name, version, before);
          versions.set(name, version);
        }
      }
    });
  }

  /**
   * The set after a response: its resources held at their versions, `removed` dropped;
   * with the transition's exact key (this set's id and the response's content).
   */
  afterResponse(resources: readonly SentResource[], removed: readonly string[]): { set: HeldSet; transition: string } {
    let key = 'r';
    for (const resource of resources) key += `${objectNumber(resource)},`;
    for (const name of removed) key += `-${name.length}:${name}`;
    if (key.length > MAX_PLAIN_KEY) key = createHash('sha256').update(key).digest('base64');
    const transition = `${this.id}>${key}`;
    if (resources.length === 0 && removed.length === 0) return { set: this, transition };
    const set = this.successor(key, (versions, digest) => {
      for (const { name, version } of resources) {
        digest.set(name, version, versions.get(name));
        versions.set(name, version);
      }
      for (const name of removed) {
        const before = versions.get(name);
        if (before === undefined) continue;
        digest.remove(name, before);
        versions.delete(name);
      }
    });
    return { set, transition };
  }

  private successor(key: string, change: (versions: VersionsDraft, digest: SetDigest) => void): HeldSet {
    if (key.length > MAX_PLAIN_KEY) key = createHash('sha256').update(key).digest('base64');
    const known = this.successors.get(key)?.deref();
    if (known) return known;
    const versions = this.versions.draft();
    const digest = this.digest.copy();
    change(versions, digest);
    const next = canonicalSet(new HeldSet(versions.finish(), digest));
    this.successors.set(key, new WeakRef(next));
    transitions.register(next, { parent: new WeakRef(this), key });
    return next;
  }

  forgetDead(key: string): void {
    if (this.successors.get(key)?.deref() === undefined) this.successors.delete(key);
  }
}

/**
 * Sets by content: streams that reached the same content by different paths (under churn
 * each response carries what changed since that stream's last ACK, so streams take
 * different paths) share one set again — and with it the transitions and responses that
 * follow. Keyed by digest (which includes the size) and base, or by digest alone for a
 * flat set; equality is checked (O(changes) on a shared base, O(size) for flat sets, which
 * are made by an O(size) flattening anyway), so a digest collision a client might craft
 * only means not sharing.
 */
const canonical = new Map<string, WeakRef<HeldSet>>();
const canonicalGone = new FinalizationRegistry<string>((key) => {
  if (canonical.get(key)?.deref() === undefined) canonical.delete(key);
});

function canonicalSet(set: HeldSet): HeldSet {
  // A flat set (no changes over its base) is found by content whatever its base, so streams whose paths flattened apart meet again.
  const versions = set.versions;
  const key = `${set.version()}|${versions.changes.size === 0 ? 'flat' : objectNumber(versions.base)}`;
  const known = canonical.get(key)?.deref();
  if (known) return known.versions.equals(set.versions) ? known : set;
  canonical.set(key, new WeakRef(set));
  canonicalGone.register(set, key);
  return set;
}

const EMPTY = new HeldSet(new LayeredVersions(new Map(), NO_CHANGES, 0), new SetDigest());

/** The response a client has not answered yet: what it held before, and what it was sent. */
interface Unanswered {
  before: HeldSet;
  resources: readonly SentResource[];
  removed: readonly string[];
}

/**
 * What a client holds of one resource type (name → version), assuming it accepts
 * what it is sent, with an order-independent digest of that set (its version_info),
 * and enough of the last response to undo it on a NACK.
 *
 * Memory: the set and its digest are a shared, immutable `HeldSet`; a stream's own
 * changes wait in a small overlay until its next response (or ACK) folds them in. Until
 * the client answers, the stream keeps the set it held before the response and the
 * response's resource list (references to the cache's objects); a NACK derives its undo
 * from them. A synced stream owns one reference.
 */
export class HeldVersions {
  private shared: HeldSet = EMPTY;
  /** This stream's changes not yet folded into `shared`. */
  private overlay?: Map<string, string | undefined>;
  private unanswered?: Unanswered;
  private lastTransition?: string;

  get(name: string): string | undefined {
    const overlay = this.overlay;
    if (overlay?.has(name)) return overlay.get(name);
    return this.shared.versions.get(name);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  get size(): number {
    this.settle();
    return this.shared.versions.size;
  }

  /** Name → version of everything held (CSDS reads it). */
  *entries(): IterableIterator<[string, string]> {
    const overlay = this.overlay;
    for (const entry of this.shared.versions) if (!overlay?.has(entry[0])) yield entry;
    if (overlay) for (const [name, version] of overlay) if (version !== undefined) yield [name, version];
  }

  *names(): IterableIterator<string> {
    for (const [name] of this.entries()) yield name;
  }

  /** The digest of the held set: equal sets give equal strings. */
  version(): string {
    this.settle();
    return this.shared.version();
  }

  /** Records a version the client already holds (Delta's initial_resource_versions). */
  hold(name: string, version: string): void {
    if (this.get(name) === version) return;
    this.overlay ??= new Map();
    this.overlay.set(name, version);
  }

  /** Drops a name without recording it for undo (an unsubscribe). */
  forget(name: string): void {
    if (this.get(name) === undefined) return;
    this.overlay ??= new Map();
    this.overlay.set(name, undefined);
  }

  /** Applies a response (updates and removals) and returns the new set version. */
  apply(resources: Iterable<SentResource>, removed: readonly string[] = []): string {
    this.settle();
    const sent = Array.isArray(resources) ? (resources as readonly SentResource[]) : [...resources];
    const before = this.shared;
    const { set, transition } = before.afterResponse(sent, removed);
    this.shared = set;
    this.unanswered = { before, resources: sent, removed };
    this.lastTransition = transition;
    return set.version();
  }

  /**
   * The exact identity of the last `apply`: the set held before it and the response's
   * resources and removals. Two streams with equal transitions were sent the same content
   * at the same version.
   */
  get transition(): string | undefined {
    return this.lastTransition;
  }

  /** The client ACKed the last response: it cannot be undone any more. */
  commit(): void {
    this.unanswered = undefined;
    this.settle();
  }

  /**
   * Reverts the last response (it was NACKed) for what the client still holds of it,
   * and returns name → the version it rejected: every resource of that response, even
   * one the client dropped from its subscription since, so it is never sent again.
   */
  undo(): Map<string, string> {
    const rejected = new Map<string, string>();
    const last = this.unanswered;
    this.unanswered = undefined;
    if (last) {
      for (const { name, version } of last.resources) rejected.set(name, version);
      for (const [name, version] of rejected) {
        // Changed since (unsubscribed, or removed): nothing of this response is held any more.
        if (this.get(name) !== version) continue;
        const before = last.before.versions.get(name);
        if (before === undefined) this.forget(name);
        else this.hold(name, before);
      }
      for (const name of last.removed) {
        const before = last.before.versions.get(name);
        // A removal of something never held (a reconnect's stale claim) has nothing to undo.
        if (before !== undefined && !this.has(name)) this.hold(name, before);
      }
    }
    this.settle();
    return rejected;
  }

  /** Folds this stream's changes into a shared set. */
  private settle(): void {
    if (!this.overlay) return;
    this.shared = this.shared.after(this.overlay);
    this.overlay = undefined;
  }
}
