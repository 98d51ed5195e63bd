/**
 * The bounds of CSDS serving (csds.ts answers, server.ts registers the service). A
 * StreamClientStatus client may send requests far faster than a fleet answer is built
 * and may never read the answers: unbounded, each request queued one whole answer
 * (2,000 empty requests held the event loop 5.4 s and 270 MB of answers). Here:
 *   - a stream has at most one answer in progress; requests arriving meanwhile wait,
 *     a repeat of a waiting request (the same bytes: the same query) is folded into it
 *     (each answer is the status at answer time), and a client with more than
 *     MAX_WAITING_QUERIES different queries waiting is refused (RESOURCE_EXHAUSTED):
 *     every distinct query still gets its own answer, in order;
 *   - the next answer is built only once the client took the previous one, and a
 *     client that takes none for the write deadline has its stream reset (as xDS does);
 *   - answers are built one at a time across all streams, each in its own event-loop turn;
 *   - fleet collections (on an xDS worker, every worker answers each) start at most
 *     once per interval, and requests asked before a collection started share it: per
 *     worker, and again at the primary for the fleet requests of all workers.
 */
import type * as grpc from '@grpc/grpc-js';
import type { CsdsFleet } from './csds.js';

type Duplex = grpc.ServerDuplexStream<Buffer, Buffer>;

/** Fleet collections start at most this often per server (a worker's collection asks every worker). */
export const CSDS_COLLECT_INTERVAL_MS = 100;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Fleet collections, rate-bounded and shared: an answer needs a fleet collected after
 * its request arrived (never a stale one), and every request asked before the latest
 * collection started is answered from it.
 */
export class FleetCollections<Fleet = CsdsFleet> {
  private last?: { startedAt: number; fleet: Promise<Fleet> };
  /** Collections started, for tests. */
  started = 0;

  constructor(
    private readonly collect: () => Promise<Fleet>,
    private readonly intervalMs = CSDS_COLLECT_INTERVAL_MS,
  ) {}

  async since(askedAt: number): Promise<Fleet> {
    const fresh = this.sharedSince(askedAt);
    if (fresh) return fresh;
    const wait = this.last ? this.last.startedAt + this.intervalMs - performance.now() : 0;
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    // Another asker may have started one while this one waited.
    const shared = this.sharedSince(askedAt);
    if (shared) return shared;
    this.started++;
    const fleet = this.collect();
    fleet.catch(() => undefined);
    this.last = { startedAt: performance.now(), fleet };
    return fleet;
  }

  private sharedSince(askedAt: number): Promise<Fleet> | undefined {
    return this.last && this.last.startedAt >= askedAt ? this.last.fleet : undefined;
  }
}

/** Answers are built one at a time across every CSDS stream, each in an event-loop turn of its own. */
export class AnswerTurns {
  private tail: Promise<void> = Promise.resolve();

  take<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(nextTurn).then(work);
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

/** Different queries one stream may have waiting for an answer; a client pipelining more is refused. */
export const MAX_WAITING_QUERIES = 16;

/** A stream asked more different queries than MAX_WAITING_QUERIES without taking their answers. */
export class CsdsBacklogFull extends Error {}

export interface CsdsStreamOptions {
  /** Builds the answer to one request (throws for a request it refuses). */
  answer(request: Buffer, receivedAt: number): Promise<Buffer>;
  /** Ends the stream with the status of an answer that failed. */
  fail(error: unknown): void;
  /** Resets a stream whose client took no answer for the write deadline. */
  stalled(): void;
  writeDeadlineMs: number;
  /** Bytes the stream's connection has sent: a slow client still reading is not a stalled one. */
  connectionBytesSent?: () => number | undefined;
}

/** One StreamClientStatus call: one answer in progress, waiting queries answered in order. */
export class CsdsStream {
  private readonly waiting: { request: Buffer; receivedAt: number }[] = [];
  private busy = false;
  /** Runs once the answer in progress (and the newest request) is written: the client half-closed. */
  private whenAnswered?: () => void;
  private closed = false;
  /** Answers written, for tests and the server's counter. */
  answered = 0;

  constructor(
    private readonly call: Duplex,
    /** Resolves true once the caller may read CSDS, false when it was refused (the call is ended elsewhere). */
    private readonly authorized: Promise<boolean>,
    private readonly options: CsdsStreamOptions,
  ) {}

  receive(request: Buffer): void {
    if (this.closed) return;
    const receivedAt = performance.now();
    // The same query again before its answer: one answer, built after both were asked, serves both.
    const same = this.waiting.find((w) => w.request.equals(request));
    if (same) same.receivedAt = receivedAt;
    else if (this.waiting.length >= MAX_WAITING_QUERIES) {
      this.close();
      this.options.fail(new CsdsBacklogFull(`more than ${MAX_WAITING_QUERIES} different client status queries waiting for answers on one stream`));
      return;
    } else this.waiting.push({ request, receivedAt });
    if (!this.busy) void this.run();
  }

  close(): void {
    this.closed = true;
    this.waiting.length = 0;
    this.whenAnswered = undefined;
  }

  /** The client half-closed: its waiting queries are still answered, then `end` runs (at once when none is owed). */
  endAfterAnswers(end: () => void): void {
    if (this.closed) return;
    if (this.busy) this.whenAnswered = end;
    else {
      this.close();
      end();
    }
  }

  private async run(): Promise<void> {
    this.busy = true;
    try {
      if (!(await this.authorized)) {
        this.close();
        return;
      }
      for (let next = this.waiting.shift(); next && !this.closed; next = this.waiting.shift()) {
        const { request, receivedAt } = next;
        const response = await this.options.answer(request, receivedAt);
        if (this.closed) return;
        if (!(await this.write(response))) {
          this.close();
          this.options.stalled();
          return;
        }
        this.answered++;
      }
    } catch (error) {
      this.close();
      this.options.fail(error);
    } finally {
      this.busy = false;
    }
    const end = this.whenAnswered;
    if (end && !this.closed) {
      this.close();
      end();
    }
  }

  /**
   * True once the client took the answer (its write completed); false when it took
   * nothing for the write deadline and its connection sent nothing meanwhile.
   */
  private write(response: Buffer): Promise<boolean> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const arm = () => {
        const sentAtArm = this.options.connectionBytesSent?.();
        timer = setTimeout(() => {
          const sent = this.options.connectionBytesSent?.();
          if (sent !== undefined && sentAtArm !== undefined && sent > sentAtArm) arm();
          else resolve(false);
        }, this.options.writeDeadlineMs);
        timer.unref();
      };
      arm();
      this.call.write(response, () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
