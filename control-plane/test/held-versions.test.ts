/**
 * HeldVersions: streams that took the same responses share one immutable held set;
 * a stream's own changes (an unsubscribe, a NACK's undo) never leak into another's.
 */
import { describe, expect, it } from 'vitest';
import { HeldVersions } from '../src/xds/held-versions.js';

const sharedOf = (held: HeldVersions) => (held as unknown as { shared: { versions: ReadonlyMap<string, string> } }).shared.versions;
const response = (n: number, version: string) => Array.from({ length: n }, (_, i) => ({ name: `c${i}`, version }));

describe('HeldVersions', () => {
  it('streams that took the same responses point at one map, with equal versions', () => {
    const a = new HeldVersions();
    const b = new HeldVersions();
    // The cache's resource objects, shared by every stream (as in the server).
    const initial = response(1000, 'v1');
    const update = [{ name: 'c7', version: 'v2' }];
    for (const held of [a, b]) {
      held.apply(initial);
      held.commit();
      held.apply(update);
      held.commit();
    }
    expect(sharedOf(a)).toBe(sharedOf(b));
    expect(a.version()).toBe(b.version());
    expect(a.get('c7')).toBe('v2');
    expect(a.size).toBe(1000);
  });

  it("one stream's unsubscribe and NACK do not change what another holds", () => {
    const a = new HeldVersions();
    const b = new HeldVersions();
    for (const held of [a, b]) {
      held.apply(response(10, 'v1'));
      held.commit();
    }
    a.forget('c3');
    a.apply([{ name: 'c1', version: 'v2' }]);
    expect(a.undo()).toEqual(new Map([['c1', 'v2']]));
    expect(a.get('c1')).toBe('v1');
    expect(a.has('c3')).toBe(false);
    expect(a.size).toBe(9);
    expect(b.has('c3')).toBe(true);
    expect(b.size).toBe(10);
    expect(sharedOf(a)).not.toBe(sharedOf(b));
    // The same set reached another way has the same digest (the version is of the content).
    const c = new HeldVersions();
    c.apply(response(10, 'v1').filter((r) => r.name !== 'c3'));
    expect(c.version()).toBe(a.version());
  });

  it('names with separators cannot make two different change lists share a set', () => {
    const a = new HeldVersions();
    const b = new HeldVersions();
    a.apply([{ name: 'x1:y', version: 'v' }]);
    b.apply([{ name: 'x', version: '1:yv' }]);
    expect(sharedOf(a)).not.toBe(sharedOf(b));
    expect(a.get('x1:y')).toBe('v');
    expect(b.get('x')).toBe('1:yv');
  });
});

describe('HeldVersions undo', () => {
  it('a NACK restores what was held before, also for removals, and keeps an unsubscribe made since', () => {
    const held = new HeldVersions();
    const initial = response(5, 'v1');
    held.apply(initial);
    held.commit();
    const version = held.version();
    held.apply(
      [
        { name: 'c1', version: 'v2' },
        { name: 'c9', version: 'v1' },
      ],
      ['c2'],
    );
    expect(held.get('c2')).toBeUndefined();
    held.forget('c9'); // unsubscribed before the NACK arrived
    expect(held.undo()).toEqual(
      new Map([
        ['c1', 'v2'],
        ['c9', 'v1'],
      ]),
    );
    expect(held.get('c1')).toBe('v1');
    expect(held.get('c2')).toBe('v1');
    expect(held.has('c9')).toBe(false);
    expect(held.version()).toBe(version);
    // Nothing unanswered any more: a second undo changes nothing.
    expect(held.undo().size).toBe(0);
    expect(held.version()).toBe(version);
  });

  it('content-equal responses made of other objects reach a set with the same version', () => {
    const a = new HeldVersions();
    const b = new HeldVersions();
    a.apply(response(100, 'v1'));
    b.apply(response(100, 'v1'));
    expect(a.version()).toBe(b.version());
  });
});
