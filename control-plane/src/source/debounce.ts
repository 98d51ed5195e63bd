/**
 * Coalesces bursts of changes (Contour and Istio do the same): runs after `quietMs`
 * without a new trigger, but never later than `maxDelayMs` after the first one,
 * so a steady stream of events cannot starve the push.
 */
export class Debouncer {
  private quietTimer?: NodeJS.Timeout;
  private maxTimer?: NodeJS.Timeout;

  constructor(
    private readonly quietMs: number,
    private readonly maxDelayMs: number,
    private readonly run: () => void,
  ) {}

  trigger(): void {
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.flush(), this.quietMs);
    this.maxTimer ??= setTimeout(() => this.flush(), this.maxDelayMs);
  }

  flush(): void {
    this.cancel();
    this.run();
  }

  cancel(): void {
    if (this.quietTimer) clearTimeout(this.quietTimer);
    if (this.maxTimer) clearTimeout(this.maxTimer);
    this.quietTimer = undefined;
    this.maxTimer = undefined;
  }
}
