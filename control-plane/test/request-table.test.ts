/** The id-keyed table of worker IPC requests (xds/request-table.ts), driven directly. */
import { describe, expect, it } from 'vitest';
import { RequestTable } from '../src/xds/request-table.js';

describe('RequestTable', () => {
  it('settles each request with the answer carrying its id, in whatever order answers come', async () => {
    const table = new RequestTable<string>();
    const sent: number[] = [];
    const first = table.request((id) => sent.push(id));
    const second = table.request((id) => sent.push(id));
    expect(new Set(sent).size).toBe(2);
    table.settle(sent[1] as number, 'second');
    table.settle(sent[0] as number, 'first');
    await expect(first).resolves.toBe('first');
    await expect(second).resolves.toBe('second');
  });

  it('answers the timeout answer when the peer is silent, and drops a late or unknown answer', async () => {
    const table = new RequestTable<string | undefined>();
    let id = 0;
    const silent = table.request((sentId) => (id = sentId), { ms: 20, answer: undefined });
    await expect(silent).resolves.toBeUndefined();
    // Late, and never asked: neither throws nor settles anything else.
    table.settle(id, 'late');
    table.settle(id + 100, 'unknown');
    const answered = table.request((sentId) => table.settle(sentId, 'at once'), { ms: 1_000, answer: undefined });
    await expect(answered).resolves.toBe('at once');
  });
});
