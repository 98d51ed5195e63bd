/**
 * The change coalescer in front of the snapshot cache, on fake timers: a lone change
 * runs at once, a burst runs once after it settles, and a steady stream runs every
 * max delay instead of starving.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Debouncer } from '../src/source/debounce.js';

describe('Debouncer', () => {
  let runs: number[];
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
    runs = [];
  });
  afterEach(() => vi.useRealTimers());

  const leading = () => new Debouncer(100, 500, () => runs.push(Date.now() - 1_000_000), true);

  it('runs a lone change in a quiet period at once (leading edge)', () => {
    const debouncer = leading();
    debouncer.trigger();
    expect(runs).toEqual([0]);
    expect(debouncer.pending).toBe(false);
    vi.advanceTimersByTime(1_000);
    expect(runs).toEqual([0]);
    // Quiet again: the next lone change is also immediate.
    debouncer.trigger();
    expect(runs).toEqual([0, 1_000]);
  });

  it('coalesces a burst after the leading run into one run when it settles', () => {
    const debouncer = leading();
    debouncer.trigger(); // t=0, leading
    for (let t = 10; t <= 50; t += 10) {
      vi.advanceTimersByTime(10);
      debouncer.trigger();
    }
    expect(runs).toEqual([0]);
    expect(debouncer.pending).toBe(true);
    vi.advanceTimersByTime(99);
    expect(runs).toEqual([0]);
    vi.advanceTimersByTime(1); // 100 ms after the last trigger (t=50)
    expect(runs).toEqual([0, 150]);
    expect(debouncer.pending).toBe(false);
  });

  it('runs a steady stream (50/s) every max delay, never starving', () => {
    const debouncer = leading();
    for (let t = 0; t < 2_000; t += 20) {
      debouncer.trigger();
      vi.advanceTimersByTime(20);
    }
    // Leading run at 0; then held triggers run at most 500 ms after the first one held.
    expect(runs[0]).toBe(0);
    expect(runs.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < runs.length; i++) expect((runs[i] ?? 0) - (runs[i - 1] ?? 0)).toBeLessThanOrEqual(520);
    // After the stream stops, the last held change runs within the quiet window.
    vi.advanceTimersByTime(100);
    expect(debouncer.pending).toBe(false);
    expect(runs.at(-1)).toBeGreaterThanOrEqual(1_980);
  });

  it('without leading edge, waits for the quiet period even for a lone change', () => {
    const debouncer = new Debouncer(100, 500, () => runs.push(Date.now() - 1_000_000));
    debouncer.trigger();
    expect(runs).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(runs).toEqual([100]);
  });

  it('cancel drops held triggers', () => {
    const debouncer = leading();
    debouncer.trigger();
    debouncer.trigger();
    debouncer.cancel();
    vi.advanceTimersByTime(1_000);
    expect(runs).toEqual([0]);
  });
});
