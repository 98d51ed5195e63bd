/**
 * The chart's Grafana dashboard against Grafana's own dashboard schema: the Grafana
 * Foundation SDK's types (generated from Grafana's schema) decode it strictly — an
 * unknown or misspelt field, a wrong type or a missing required field anywhere,
 * panel options and field config included, fails — and validate it. This is as close
 * to Grafana as this machine gets (no Grafana server can be installed here; README
 * "Metrics, CSDS and the dashboard"); the queries are checked against a live
 * /metrics by control-plane/test/dashboard.test.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup, REPO_ROOT, tempDir } from '../src/harness.js';

const DASHBOARD = join(REPO_ROOT, 'k8s', 'chart', 'meshcp', 'dashboards', 'meshcp.json');

describe("the chart's dashboard against Grafana's dashboard schema", () => {
  const cleanup = new Cleanup();
  let checker: string;
  beforeAll(() => {
    checker = execFileSync('bash', [join(REPO_ROOT, 'e2e/scripts/build-grafana-schema.sh')], { encoding: 'utf8', timeout: 600_000 }).trim();
  }, 600_000);
  afterAll(() => cleanup.run());

  const check = (file: string) => spawnSync(checker, [file], { encoding: 'utf8' });

  it('decodes strictly and validates', () => {
    const panels = (JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: unknown[] }).panels.length;
    const result = check(DASHBOARD);
    expect(result.stdout + result.stderr).toBe(`ok: ${DASHBOARD} (${panels} panels)\n`);
    expect(result.status).toBe(0);
  });

  it('the check can fail: a misspelt panel field and a wrong option type are named by path', () => {
    const board = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Record<string, unknown>[] };
    const first = board.panels[0] as Record<string, unknown> & { options: { legend: Record<string, unknown> } };
    first.gridPoss = first.gridPos;
    first.options.legend.showLegend = 'yes';
    const broken = join(tempDir('dashboard', cleanup), 'broken.json');
    writeFileSync(broken, JSON.stringify(board));
    const result = check(broken);
    expect(result.status).toBe(1);
    expect(result.stdout).toContain("panels[0].Panel: unexpected field 'gridPoss'");
    expect(result.stdout).toContain('panels[0].options.legend.showLegend');
  });
});
