/** Keeps the README's first command honest: the demo routes real traffic and exits cleanly with --once. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../src/harness.js';

describe('demo (README command 1)', () => {
  it('serves the embedded default through a real Envoy and shows traffic', () => {
    const run = spawnSync(process.execPath, [join(REPO_ROOT, 'e2e', 'dist', 'demo.js'), '--once'], { encoding: 'utf8', timeout: 90_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Host payments\.shop\s+\/\s+→ upstream:19001 ×20/);
    expect(run.stdout).toMatch(/Host payments-v2\.shop\s+\/\s+→ upstream:19003 ×20/);
    expect(run.stdout).toMatch(/CDS SYNCED, EDS SYNCED, LDS SYNCED, RDS SYNCED/);
  });
});
