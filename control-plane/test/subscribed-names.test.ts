/**
 * Delta subscriptions: streams that subscribe to the same names share one set, a
 * stream's later small changes stay its own, and no sequence of requests makes a
 * stream copy its whole set per request.
 */
import { ENDPOINT } from '@meshcp/xds-protos';
import { describe, expect, it } from 'vitest';
import { nextDeltaSubscription } from '../src/xds/protocol.js';
import type { DeltaNames } from '../src/xds/subscribed-names.js';

const baseOf = (names: DeltaNames) => (names as unknown as { base: ReadonlySet<string> }).base;
const clusters = (n: number, prefix = 'c') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('Delta subscription names', () => {
  it('streams whose first request names the same clusters share one set (built from separate strings, as decoded)', () => {
    const a = nextDeltaSubscription(undefined, ENDPOINT, clusters(1000), []);
    const b = nextDeltaSubscription(
      undefined,
      ENDPOINT,
      clusters(1000).map((n) => `${n.slice(0, 1)}${n.slice(1)}`),
      [],
    );
    expect(baseOf(a.names)).toBe(baseOf(b.names));
    expect(a.names.size).toBe(1000);
    expect(b.names.has('c999')).toBe(true);
    // A different list is a different set.
    const c = nextDeltaSubscription(undefined, ENDPOINT, clusters(999), []);
    expect(baseOf(c.names)).not.toBe(baseOf(a.names));
  });

  it("one stream's later subscribe and unsubscribe change only its own names", () => {
    const a = nextDeltaSubscription(undefined, ENDPOINT, clusters(1000), []);
    const b = nextDeltaSubscription(undefined, ENDPOINT, clusters(1000), []);
    nextDeltaSubscription(a, ENDPOINT, ['new'], ['c5']);
    expect(a.names.has('new')).toBe(true);
    expect(a.names.has('c5')).toBe(false);
    expect(a.names.size).toBe(1000);
    expect([...a.names]).toHaveLength(1000);
    expect(b.names.has('new')).toBe(false);
    expect(b.names.has('c5')).toBe(true);
    expect(b.names.size).toBe(1000);
    // Still on the shared set, with a two-name overlay.
    expect(baseOf(a.names)).toBe(baseOf(b.names));
    // Re-subscribing a name of the shared set undoes its removal; unsubscribing an added one drops it.
    nextDeltaSubscription(a, ENDPOINT, ['c5'], ['new']);
    expect(new Set(a.names)).toEqual(new Set(b.names));
  });

  it('many changes are folded into a new shared set; the content is exactly the changed one', () => {
    const a = nextDeltaSubscription(undefined, ENDPOINT, clusters(1000), []);
    const b = nextDeltaSubscription(undefined, ENDPOINT, clusters(1000), []);
    const before = baseOf(a.names);
    for (const sub of [a, b]) nextDeltaSubscription(sub, ENDPOINT, clusters(200, 'n'), clusters(100));
    expect(baseOf(a.names)).not.toBe(before);
    expect(baseOf(a.names)).toBe(baseOf(b.names));
    expect(a.names.size).toBe(1100);
    expect(a.names.has('c50')).toBe(false);
    expect(a.names.has('c150')).toBe(true);
    expect(a.names.has('n199')).toBe(true);
  });

  it('subscribing one name per request folds O(log n) times, not once per request', () => {
    const sub = nextDeltaSubscription(undefined, ENDPOINT, ['first'], []);
    const bases = new Set<ReadonlySet<string>>();
    for (const name of clusters(10_000)) {
      nextDeltaSubscription(sub, ENDPOINT, [name], []);
      bases.add(baseOf(sub.names));
    }
    expect(sub.names.size).toBe(10_001);
    // Each fold needs at least 1/8 of the set's size in new names: about log(10,000 / 64) / log(1.125) + 1 folds.
    expect(bases.size).toBeLessThan(50);
    expect(bases.size).toBeGreaterThan(10);
  });
});
