import { createHash } from 'node:crypto';
import { SetDigest } from '@meshcp/xds-protos';

/** One change to a held set: a name's new version, or undefined when it is dropped. */
type Ops = ReadonlyMap<string, string | undefined>;

/** Transition keys longer than this are hashed (SHA-256) so a 1,000-resource response does not keep a 50 KB key alive. */
const MAX_PLAIN_KEY = 256;

/** Drops a transition from its parent once the set it led to is garbage. */
const transitions = new FinalizationRegistry<{ parent: WeakRef<HeldSet>; key: string }>(({ parent, key }) => parent.deref()?.forgetDead(key));

/**
 * An immutable name → version set, shared by every stream that holds exactly it.
 * Streams reach it by the same transition from the same set: 5,000 proxies of one
 * variant that took the same responses point at one map, not 5,000 copies. The
 * transition key is the exact list of changes (length-prefixed, so no two lists share
 * a key), hashed with SHA-256 when long — never a digest a client could collide.
 */
class HeldSet {
  private readonly successors = new Map<string, WeakRef<HeldSet>>();

  constructor(readonly versions: ReadonlyMap<string, string>) {}

  after(ops: Ops): HeldSet {
    if (ops.size === 0) return this;
    let key = '';
    for (const [name, version] of ops) key += `${name.length}:${name}${version === undefined ? '-' : `${version.length}:${version}`}`;
    if (key.length > MAX_PLAIN_KEY) key = createHash('sha256').update(key).digest('base64');
    const known = this.successors.get(key)?.deref();
    if (known) return known;
    const versions = new Map(this.versions);
    for (const [name, version] of ops) {
      if (version === undefined) versions.delete(name);
      else versions.set(name, version);
    }
    const next = new HeldSet(versions);
    this.successors.set(key, new WeakRef(next));
    transitions.register(next, { parent: new WeakRef(this), key });
    return next;
  }

  forgetDead(key: string): void {
    if (this.successors.get(key)?.deref() === undefined) this.successors.delete(key);
  }
}

const EMPTY = new HeldSet(new Map());

/**
 * What a client holds of one resource type (name → version), assuming it accepts
 * what it is sent, with an order-independent digest of that set (its version_info)
 * and an undo log of the last response, so a NACK restores exactly what the client
 * kept — no copy of the whole set per response or per ACK.
 *
 * Memory: the set itself is a shared, immutable `HeldSet`; a stream's own changes
 * wait in a small overlay until its next response (or ACK) folds them in. The undo
 * log lives only until the response is ACKed. A synced stream owns a digest and two
 * references.
 */
export class HeldVersions {
  private shared: HeldSet = EMPTY;
  /** This stream's changes not yet folded into `shared`. */
  private overlay?: Map<string, string | undefined>;
  private count = 0;
  private readonly digest = new SetDigest();
  /** Versions before the last response, by name (until it is ACKed). */
  private undoLog?: Map<string, string | undefined>;
  /** Versions the last response carried, by name (until it is ACKed). */
  private sentLog?: Map<string, string>;

  get(name: string): string | undefined {
    const overlay = this.overlay;
    if (overlay?.has(name)) return overlay.get(name);
    return this.shared.versions.get(name);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  get size(): number {
    return this.count;
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
    return this.digest.toString();
  }

  /** Records a version the client already holds (Delta's initial_resource_versions). */
  hold(name: string, version: string): void {
    const before = this.get(name);
    if (before === version) return;
    this.digest.set(name, version, before);
    if (before === undefined) this.count++;
    this.overlay ??= new Map();
    this.overlay.set(name, version);
  }

  /** Drops a name without recording it for undo (an unsubscribe). */
  forget(name: string): void {
    const version = this.get(name);
    if (version === undefined) return;
    this.digest.remove(name, version);
    this.count--;
    this.overlay ??= new Map();
    this.overlay.set(name, undefined);
  }

  /** Applies a response (updates and removals) and returns the new set version. */
  apply(resources: Iterable<{ name: string; version: string }>, removed: Iterable<string> = []): string {
    const undoLog = new Map<string, string | undefined>();
    const sentLog = new Map<string, string>();
    for (const r of resources) {
      undoLog.set(r.name, this.get(r.name));
      sentLog.set(r.name, r.version);
      this.hold(r.name, r.version);
    }
    for (const name of removed) {
      const before = this.get(name);
      // A removal of something never held (a reconnect's stale claim) has nothing to undo.
      if (before === undefined) continue;
      undoLog.set(name, before);
      this.forget(name);
    }
    this.undoLog = undoLog;
    this.sentLog = sentLog;
    this.settle();
    return this.version();
  }

  /** The client ACKed the last response: it cannot be undone any more, so its log goes. */
  commit(): void {
    this.undoLog = undefined;
    this.sentLog = undefined;
    this.settle();
  }

  /**
   * Reverts the last response (it was NACKed) for what the client still holds of it,
   * and returns name → the version it rejected: every resource of that response, even
   * one the client dropped from its subscription since, so it is never sent again.
   */
  undo(): Map<string, string> {
    const sentLog = this.sentLog ?? new Map<string, string>();
    for (const [name, before] of this.undoLog ?? []) {
      const sent = sentLog.get(name);
      const now = this.get(name);
      // Changed since (unsubscribed, or removed): nothing of this response is held any more.
      if (now !== sent) continue;
      this.forget(name);
      if (before !== undefined) this.hold(name, before);
    }
    this.undoLog = undefined;
    this.sentLog = undefined;
    this.settle();
    return sentLog;
  }

  /** Folds this stream's changes into a shared set. */
  private settle(): void {
    if (!this.overlay) return;
    this.shared = this.shared.after(this.overlay);
    this.overlay = undefined;
  }
}
