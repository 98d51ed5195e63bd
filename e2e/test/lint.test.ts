/** The linter and formatter are part of the suite, so a style regression fails CI like any other. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../src/harness.js';

describe('code style', () => {
  it('biome check passes on the whole repository', () => {
    const run = spawnSync(join(REPO_ROOT, 'node_modules', '.bin', 'biome'), ['check', '--max-diagnostics=20', '.'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
  });

  it('TypeScript strict build has no errors', () => {
    const run = spawnSync(join(REPO_ROOT, 'node_modules', '.bin', 'tsc'), ['-b', '--noEmit', 'false'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(run.status, run.stdout).toBe(0);
  });
});
