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

describe('HeldVersions re-converge', () => {
  it('streams that reached the same content by different paths share one set again, also after flattening', () => {
    const initial = response(1000, 'v1');
    const changes = Array.from({ length: 400 }, (_, i) => ({ name: `c${i}`, version: 'v2' }));
    const a = new HeldVersions();
    const b = new HeldVersions();
    for (const held of [a, b]) {
      held.apply(initial);
      held.commit();
    }
    // a takes the changes one response at a time, b in batches of 7: different transitions throughout.
    for (const change of changes) {
      a.apply([change]);
      a.commit();
    }
    for (let i = 0; i < changes.length; i += 7) {
      b.apply(changes.slice(i, i + 7));
      b.commit();
    }
    expect(a.version()).toBe(b.version());
    expect(sharedOf(a)).toBe(sharedOf(b));
    // Early on, before any flattening, too.
    const c = new HeldVersions();
    const d = new HeldVersions();
    for (const held of [c, d]) {
      held.apply(initial);
      held.commit();
    }
    c.apply([changes[0], changes[1]].filter((r) => r !== undefined));
    d.apply([changes[1], changes[0]].filter((r) => r !== undefined));
    expect(sharedOf(c)).toBe(sharedOf(d));
    // Different content never shares.
    d.forget('c999');
    d.commit();
    expect(sharedOf(c)).not.toBe(sharedOf(d));
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

describe('HeldVersions against a plain map', () => {
  it('a long random run of responses, unsubscribes, claims, NACKs and ACKs holds exactly what a plain map holds', () => {
    // mulberry32: a seeded generator whose low bits are as random as its high ones.
    let seed = 7;
    const random = (n: number) => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n) | 0;
    };
    const names = Array.from({ length: 300 }, (_, i) => `c${i}`);
    // Resource objects are shared and immutable, as the cache's are: one object per (name, version).
    const objects = new Map<string, { name: string; version: string }>();
    const resource = (name: string, version: string) => {
      const key = `${name}@${version}`;
      let object = objects.get(key);
      if (!object) {
        object = { name, version };
        objects.set(key, object);
      }
      return object;
    };
    let restoredRemovals = 0;
    for (const streams of [1, 3]) {
      const held = Array.from({ length: streams }, () => new HeldVersions());
      const plain = held.map(() => new Map<string, string>());
      const before = held.map(() => new Map<string, string>());
      const lastRemoved: string[][] = held.map(() => []);
      for (let step = 0; step < 3000; step++) {
        const i = random(streams);
        const h = held[i] as HeldVersions;
        const p = plain[i] as Map<string, string>;
        const op = random(10);
        if (op < 5) {
          const sent = Array.from({ length: 1 + random(op === 0 ? 200 : 5) }, () => resource(names[random(300)] as string, `v${random(4)}`));
          const removed = random(3) === 0 ? [names[random(300)] as string] : [];
          before[i] = new Map(p);
          lastRemoved[i] = removed;
          h.apply(sent, removed);
          for (const r of sent) p.set(r.name, r.version);
          for (const name of removed) p.delete(name);
        } else if (op < 7) {
          h.commit();
          lastRemoved[i] = [];
        } else if (op === 7) {
          const name = names[random(300)] as string;
          h.forget(name);
          p.delete(name);
        } else if (op === 8) {
          const name = names[random(300)] as string;
          h.hold(name, `claim${random(2)}`);
          p.set(name, h.get(name) as string);
        } else {
          // A NACK restores the set before the last response (what the reference kept), for the names still as sent.
          const rejected = h.undo();
          const was = before[i] as Map<string, string>;
          for (const [name, version] of rejected) {
            if (p.get(name) !== version) continue;
            const old = was.get(name);
            if (old === undefined) p.delete(name);
            else p.set(name, old);
          }
          for (const name of lastRemoved[i] ?? []) {
            const old = was.get(name);
            if (old !== undefined && !p.has(name)) {
              p.set(name, old);
              restoredRemovals++;
            }
          }
          lastRemoved[i] = [];
          before[i] = new Map(p);
        }
        expect(h.size).toBe(p.size);
        const sample = names[random(300)] as string;
        expect(h.get(sample)).toBe(p.get(sample));
        if (step % 100 === 0) {
          expect(new Map(h.entries())).toEqual(p);
          const reference = new HeldVersions();
          reference.apply([...p].map(([name, version]) => ({ name, version })));
          expect(h.version()).toBe(reference.version());
        }
      }
    }
    // The run did undo removals (the case a NACK of a Delta response with removals takes).
    expect(restoredRemovals).toBeGreaterThan(0);
  });
});
