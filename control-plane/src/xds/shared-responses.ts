/**
 * Responses whose bytes are the same for many streams, encoded once and sent to each.
 *
 * 10,000 Envoys of one variant are sent the same 1,000 ClusterLoadAssignments at the
 * same version: encoding them per stream cost a few hundred KB of Buffers per stream,
 * alive until HTTP/2 flow control let them out and then until a GC found them dead —
 * most of a stream's resident memory during a sync (docs/performance.md, "Memory per
 * stream") — and the encoding itself was the largest part of a response's CPU.
 *
 * A response is shareable when its content is determined by something streams share:
 * a held-set transition (the set held before, a shared object, and the exact resources
 * and removals sent; held-versions.ts) or a whole shared resource set (SotW LDS/CDS of
 * a wildcard subscription). Its key says so exactly, together with mode and type. Its
 * nonce is then the entry's own (`s<n>`), the same for every stream that is sent it: a
 * nonce only has to tell a stream's responses of one type apart, and a stream never
 * takes the same transition twice (held sets only move forward to new sets). A full set
 * can be sent to a stream again (its subscription changed): the stream then gets a
 * private copy with a nonce of its own (streams.ts remembers its last shared key per
 * type), as it does should an entry carry the stream's latest nonce.
 *
 * Entries are held strongly while in use and dropped after 10 s without use, or the
 * least recently used first once they exceed 64 MiB in all: bounded whatever
 * clients do, and a sync of 10,000 streams that takes a minute keeps reusing its few.
 */

/** An entry not used for this long is dropped. */
const IDLE_MS = 10_000;
/** Bytes of all entries together, at most. */
const MAX_BYTES = 64 * 1024 * 1024;

export interface SharedResponsesLimits {
  idleMs: number;
  maxBytes: number;
}

interface Entry {
  bytes: Buffer;
  nonce: string;
  usedAt: number;
}

export interface SharedResponse {
  bytes: Buffer;
  nonce: string;
  /** Whether the bytes were encoded for another stream before (false: encoded now). */
  reused: boolean;
}

export class SharedResponses {
  /** Map order is least recently used first: a hit moves its entry to the end. */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private nextId = 0;
  private sweeper?: NodeJS.Timeout;

  constructor(private readonly limits: SharedResponsesLimits = { idleMs: IDLE_MS, maxBytes: MAX_BYTES }) {}

  /**
   * The response for `key`, encoded with `encode(nonce)` on a miss (and kept, unless it
   * is larger than an eighth of the byte budget). `avoidNonce` is the stream's latest
   * nonce of that type: an entry carrying it is not reused for it.
   */
  get(key: string, avoidNonce: string | undefined, encode: (nonce: string) => Buffer): SharedResponse | undefined {
    const now = performance.now();
    const known = this.entries.get(key);
    if (known) {
      if (known.nonce === avoidNonce) return undefined;
      known.usedAt = now;
      this.entries.delete(key);
      this.entries.set(key, known);
      return { bytes: known.bytes, nonce: known.nonce, reused: true };
    }
    const nonce = `s${++this.nextId}`;
    const entry: Entry = { bytes: encode(nonce), nonce, usedAt: now };
    // One response of more than an eighth of the budget would flush the others: it is sent, not kept.
    const response = { bytes: entry.bytes, nonce, reused: false };
    if (entry.bytes.length > this.limits.maxBytes / 8) return response;
    this.entries.set(key, entry);
    this.bytes += entry.bytes.length;
    this.evict(now);
    this.sweeper ??= setInterval(() => this.evict(performance.now()), this.limits.idleMs).unref();
    return response;
  }

  /** How many entries and bytes are held (tests, metrics). */
  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  private evict(now: number): void {
    for (const [key, entry] of this.entries) {
      if (this.bytes <= this.limits.maxBytes && now - entry.usedAt < this.limits.idleMs) break;
      this.entries.delete(key);
      this.bytes -= entry.bytes.length;
    }
    if (this.entries.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}
