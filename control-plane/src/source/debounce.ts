/**
 * Coalesces bursts of changes, Istio's rule (PILOT_DEBOUNCE_AFTER / PILOT_DEBOUNCE_MAX)
 * with a leading edge:
 *
 * - With `leading`, a trigger in a quiet period (nothing ran or was pending for
 *   `quietMs`) runs at once: a lone change is never delayed.
 * - A trigger within `quietMs` of the last run starts coalescing: it runs after
 *   `quietMs` without a new trigger (the burst is over), but never later than
 *   `maxDelayMs` after the first trigger it holds, so a steady stream of changes
 *   (50/s) is applied every `maxDelayMs` instead of starving.
 *
 * Every run applies the latest state, so coalescing drops only intermediate states
 * nobody would have had time to use.
 */
export class Debouncer {
  private quietTimer?: NodeJS.Timeout;
  private maxTimer?: NodeJS.Timeout;
  /** When the last run happened (clock ms); a trigger within `quietMs` of it is part of a burst. */
  private lastRun = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly quietMs: number,
    private readonly maxDelayMs: number,
    private readonly run: () => void,
    /**
     * Leading edge: run a trigger that follows a quiet period at once. Off by default:
     * a file watcher's first event often sees a half-written file.
     */
    private readonly leading = false,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** True while triggers are held for a later run. */
  get pending(): boolean {
    return this.quietTimer !== undefined;
  }

  trigger(): void {
    if (this.leading && !this.pending && this.now() - this.lastRun >= this.quietMs) {
      this.flush();
      return;
    }
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.flush(), this.quietMs);
    this.maxTimer ??= setTimeout(() => this.flush(), this.maxDelayMs);
  }

  flush(): void {
    this.cancel();
    this.lastRun = this.now();
    this.run();
  }

  cancel(): void {
    if (this.quietTimer) clearTimeout(this.quietTimer);
    if (this.maxTimer) clearTimeout(this.maxTimer);
    this.quietTimer = undefined;
    this.maxTimer = undefined;
  }
}
