/**
 * The names a stream subscribes to, shared between streams that subscribe to the same
 * list. 10,000 Envoys asking for the same 1,000 clusters' endpoints hold one Set of
 * 1,000 strings, not 10,000 (in Delta that per-stream copy was ≈ 70 KB of each
 * stream's heap; docs/performance.md, "Memory per stream").
 */
import { createHash } from 'node:crypto';

/** What the protocol reads of a subscription's names. */
export interface NameSet extends Iterable<string> {
  has(name: string): boolean;
  readonly size: number;
}

/** Name lists longer than this are keyed by their SHA-256, so the intern table never holds a megabyte key. */
const MAX_PLAIN_KEY = 256;
const interned = new Map<string, WeakRef<ReadonlySet<string>>>();
const internedGone = new FinalizationRegistry<string>((key) => {
  if (interned.get(key)?.deref() === undefined) interned.delete(key);
});

/**
 * One Set per distinct name list, never mutated once interned (callers must not).
 * The key is the exact list (length-prefixed), hashed with SHA-256 when long: no two
 * lists share a key, whatever names a client chooses.
 */
export function internNames(names: Set<string>): ReadonlySet<string> {
  if (names.size === 0) return names;
  let key = '';
  for (const name of names) key += `${name.length}:${name}`;
  if (key.length > MAX_PLAIN_KEY) key = createHash('sha256').update(key).digest('base64');
  const known = interned.get(key)?.deref();
  if (known) return known;
  interned.set(key, new WeakRef(names));
  internedGone.register(names, key);
  return names;
}

/** A stream's own changes are folded into a new shared set once they are more than this many… */
const FOLD_AT_LEAST = 64;
/** …and more than this share of the shared set: so folding costs O(1) per change, amortised, whatever a client sends. */
const FOLD_SHARE = 1 / 8;

const EMPTY: ReadonlySet<string> = new Set();

/**
 * A Delta subscription's names: a shared, interned set plus this stream's own additions
 * and removals since (Delta requests change a subscription by a few names at a time).
 * After each request the stream's changes are folded into a new interned set when they
 * are many — the first request's 1,000 names become a shared set at once — and kept as
 * a small overlay when they are few, so a client that subscribes one name per request
 * costs O(1) per name, never a copy of the whole set.
 */
export class DeltaNames implements NameSet {
  private base: ReadonlySet<string> = EMPTY;
  /** Names not in `base`. */
  private added?: Set<string>;
  /** Names of `base` unsubscribed since. */
  private removed?: Set<string>;

  has(name: string): boolean {
    if (this.base.has(name)) return !this.removed?.has(name);
    return this.added?.has(name) ?? false;
  }

  get size(): number {
    return this.base.size - (this.removed?.size ?? 0) + (this.added?.size ?? 0);
  }

  add(name: string): void {
    if (this.base.has(name)) this.removed?.delete(name);
    else {
      this.added ??= new Set();
      this.added.add(name);
    }
  }

  delete(name: string): void {
    if (this.base.has(name)) {
      this.removed ??= new Set();
      this.removed.add(name);
    } else this.added?.delete(name);
  }

  *[Symbol.iterator](): Iterator<string> {
    const removed = this.removed;
    if (removed?.size) {
      for (const name of this.base) if (!removed.has(name)) yield name;
    } else yield* this.base;
    if (this.added) yield* this.added;
  }

  /** Called after a request's changes: folds them into a shared set when they are many. */
  settle(): void {
    const own = (this.added?.size ?? 0) + (this.removed?.size ?? 0);
    if (own === 0 || own < FOLD_AT_LEAST || own < this.base.size * FOLD_SHARE) return;
    // A first request's names need no copy: they are the whole set.
    const names = this.base === EMPTY && !this.removed && this.added ? this.added : new Set(this);
    this.base = internNames(names);
    this.added = undefined;
    this.removed = undefined;
  }
}
