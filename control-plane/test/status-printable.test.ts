/** `meshcp status PROXY` prints names, paths and NACK texts a proxy sent: control characters must reach the terminal escaped. */
import { describe, expect, it } from 'vitest';
import { printable } from '../src/cli.js';

describe('status output from proxy-supplied text', () => {
  it('escapes terminal control sequences and keeps lines and tabs', () => {
    const hostile = 'LDS listener\u001b]52;c;ZXZpbA==\u0007 name\u009b2J\tok\n';
    const shown = printable(hostile);
    expect(shown).toBe('LDS listener\\u001b]52;c;ZXZpbA==\\u0007 name\\u009b2J\tok\n');
    expect([...shown].filter((c) => c < ' ' && c !== '\t' && c !== '\n')).toEqual([]);
  });
});
