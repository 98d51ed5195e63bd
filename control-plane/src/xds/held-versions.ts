import { SetDigest } from '@meshcp/xds-protos';

/**
 * What a client holds of one resource type (name → version), assuming it accepts
 * what it is sent, with an order-independent digest of that set (its version_info)
 * and an undo log of the last response, so a NACK restores exactly what the client
 * kept — no copy of the whole set per response or per ACK.
 */
export class HeldVersions {
  private readonly versions = new Map<string, string>();
  private readonly digest = new SetDigest();
  private undoLog = new Map<string, string | undefined>();
  /** Versions the last response carried, by name. */
  private sentLog = new Map<string, string>();

  get(name: string): string | undefined {
    return this.versions.get(name);
  }

  has(name: string): boolean {
    return this.versions.has(name);
  }

  get size(): number {
    return this.versions.size;
  }

  /** Name → version of everything held (CSDS reads it). */
  entries(): IterableIterator<[string, string]> {
    return this.versions.entries();
  }

  names(): IterableIterator<string> {
    return this.versions.keys();
  }

  /** The digest of the held set: equal sets give equal strings. */
  version(): string {
    return this.digest.toString();
  }

  /** Records a version the client already holds (Delta's initial_resource_versions). */
  hold(name: string, version: string): void {
    this.digest.set(name, version, this.versions.get(name));
    this.versions.set(name, version);
  }

  /** Drops a name without recording it for undo (an unsubscribe). */
  forget(name: string): void {
    const version = this.versions.get(name);
    if (version === undefined) return;
    this.versions.delete(name);
    this.digest.remove(name, version);
  }

  /** Applies a response (updates and removals) and returns the new set version. */
  apply(resources: Iterable<{ name: string; version: string }>, removed: Iterable<string> = []): string {
    this.undoLog = new Map();
    this.sentLog = new Map();
    for (const r of resources) {
      this.undoLog.set(r.name, this.versions.get(r.name));
      this.sentLog.set(r.name, r.version);
      this.hold(r.name, r.version);
    }
    for (const name of removed) {
      const before = this.versions.get(name);
      // A removal of something never held (a reconnect's stale claim) has nothing to undo.
      if (before === undefined) continue;
      this.undoLog.set(name, before);
      this.forget(name);
    }
    return this.version();
  }

  /**
   * Reverts the last response (it was NACKed) for what the client still holds of it,
   * and returns name → the version it rejected: every resource of that response, even
   * one the client dropped from its subscription since, so it is never sent again.
   */
  undo(): Map<string, string> {
    for (const [name, before] of this.undoLog) {
      const sent = this.sentLog.get(name);
      const now = this.versions.get(name);
      // Changed since (unsubscribed, or removed): nothing of this response is held any more.
      if (now !== sent) continue;
      this.forget(name);
      if (before !== undefined) this.hold(name, before);
    }
    const rejected = this.sentLog;
    this.undoLog = new Map();
    this.sentLog = new Map();
    return rejected;
  }
}
