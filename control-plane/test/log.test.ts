/**
 * One logger: the server's `setLogLevel` governs the Kubernetes source's logs too
 * (they share translators/src/log.ts), and translate functions never log.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { logger as k8sLogger } from '@meshcp/k8s';
import { afterEach, describe, expect, it } from 'vitest';
import { logger, setLogLevel } from '../src/log.js';
import { captureStderr } from './support/capture-stderr.js';

const TRANSLATORS_SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'translators', 'src');

afterEach(() => setLogLevel('info'));

describe('one logger', () => {
  it('setLogLevel governs the server and the Kubernetes source alike', () => {
    const server = logger('server-test');
    const k8s = k8sLogger('k8s-test');
    setLogLevel('error');
    expect(
      captureStderr(() => {
        for (const l of [server, k8s]) l.warn('quiet');
      }),
    ).toEqual([]);
    setLogLevel('debug');
    const lines = captureStderr(() => {
      for (const l of [server, k8s]) l.debug('loud', { n: 1 });
    });
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ level: 'debug', component: 'server-test', msg: 'loud', n: 1 }),
      expect.objectContaining({ level: 'debug', component: 'k8s-test', msg: 'loud', n: 1 }),
    ]);
  });

  it('translators stay pure: nothing but log.ts itself (and the index re-exporting it) touches the logger or the console', () => {
    const files = readdirSync(TRANSLATORS_SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && f !== 'log.ts' && f !== 'index.ts');
    expect(files.length).toBeGreaterThan(10);
    const impure = files.filter((f) => /log\.js'|console\.|process\.std(out|err)/.test(readFileSync(join(TRANSLATORS_SRC, f), 'utf8')));
    expect(impure).toEqual([]);
  });
});
