/**
 * The whole matrix on podman: every Envoy release in xds-protos/envoy-api.json × every
 * scenario, each cell in its own container with its own control plane. Every cell
 * must pass, nothing may be left running, and the report must read in a browser.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MatrixReport } from '../src/report.js';
import { analyse, decodePng, PASS_GREEN, screenshot } from './chromium.js';

const REPO = join(import.meta.dirname, '..', '..');
const OUT = join(REPO, '.test-output', 'compat-matrix', 'full');

describe('compat matrix on podman (all versions × all scenarios)', () => {
  let report: MatrixReport;
  let lib: typeof import('../src/index.js');

  beforeAll(async () => {
    // Dozens of in-process control planes: keep their logs to warnings (read at load time).
    process.env.MESHCP_LOG_LEVEL ??= 'warn';
    lib = await import('../src/index.js');
    report = await lib.runMatrix({
      targets: lib.targetsFrom(lib.defaultVersions()),
      runtime: 'podman',
      outDir: OUT,
      onCell: (c) => process.stderr.write(`${c.status} ${c.scenario} × ${c.target} ${(c.durationMs / 1000).toFixed(1)}s ${c.reason?.split('\n')[0] ?? ''}\n`),
    });
    process.stderr.write(`matrix: ${JSON.stringify(report.summary)} in ${(report.durationMs / 1000).toFixed(1)}s → ${OUT}/report.md\n`);
  }, 20 * 60_000);

  afterAll(async () => {
    // A last sweep in case an assertion below failed before the check.
    if (report) await new lib.PodmanRuntime().sweep(lib.RUN_LABEL, report.runId);
  });

  it('every cell passes', async () => {
    const scenarios = await lib.loadScenarios();
    expect(report.cells).toHaveLength(lib.defaultVersions().length * scenarios.length);
    const failed = report.cells.filter((c) => c.status !== 'pass').map((c) => `${c.scenario} × ${c.target}: ${c.reason}\n  ${c.envoyErrors.join('\n  ')}`);
    expect(failed, failed.join('\n')).toEqual([]);
    expect(report.durationMs).toBeLessThan(20 * 60_000);
  });

  it('leaves no container behind', async () => {
    expect(await new lib.PodmanRuntime().list(lib.RUN_LABEL, report.runId)).toEqual([]);
  });

  it('report.html shows the matrix in headless Chromium', async () => {
    const image = decodePng(await screenshot(join(OUT, 'report.html')));
    const seen = analyse(image, { green: PASS_GREEN });
    expect(seen.inked, JSON.stringify(seen)).toBeGreaterThan(0.05);
    expect(seen.near.green).toBeGreaterThan(report.summary.passed * 1000);
  }, 120_000);
});
