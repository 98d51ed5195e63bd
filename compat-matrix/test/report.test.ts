/** The report renders (Markdown and HTML), and report.html is a real, non-blank page in headless Chromium. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type MatrixReport, renderMarkdown, writeReport } from '../src/report.js';
import { analyse, decodePng, FAIL_RED, PASS_GREEN, screenshot } from './chromium.js';

const versions = ['1.36.4', '1.37.0', '1.38.3', '1.39.0', '1.40.0'];
const scenarios = ['bootstrap-sotw', 'routing-host-path', 'nack-rejected-resource'];
const ENVOY_TEXT = "Error adding/updating listener(s) compat-duplicate-listener: error adding listener '127.0.0.1:40001': has duplicate address";

function sample(): MatrixReport {
  return {
    tool: 'meshcp compat run',
    runId: 'test',
    runtime: 'podman',
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:05:00.000Z',
    durationMs: 300_000,
    concurrency: 2,
    targets: versions.map((v) => ({ label: v, version: v, provisionMs: 900, provisioned: `localhost/meshcp/envoy:v${v}` })),
    scenarios: scenarios.map((id) => ({ id, title: `the ${id} scenario` })),
    cells: scenarios.flatMap((scenario) =>
      versions.map((target) => {
        const failed = scenario === 'routing-host-path' && target === '1.37.0';
        return {
          target,
          version: target,
          scenario,
          status: failed ? ('fail' as const) : ('pass' as const),
          durationMs: 2345,
          ...(failed ? { phase: 'sync' as const, reason: `LDS NACKED by Envoy 1.37.0: ${ENVOY_TEXT}` } : {}),
          envoyErrors: failed ? [`LDS: ${ENVOY_TEXT}`] : [],
          logs: { cell: `logs/${target}/${scenario}/cell.log`, envoy: `logs/${target}/${scenario}/envoy.log` },
          notes: {},
        };
      }),
    ),
    summary: { passed: 14, failed: 1, skipped: 0, total: 15 },
  };
}

describe('compat report', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshcp-report-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('report.md is a versions × scenarios table with the failure and Envoy’s text', () => {
    const md = renderMarkdown(sample());
    const lines = md.split('\n');
    expect(lines.find((l) => l.startsWith('| scenario'))).toBe('| scenario | Envoy 1.36.4 | Envoy 1.37.0 | Envoy 1.38.3 | Envoy 1.39.0 | Envoy 1.40.0 |');
    expect(lines.find((l) => l.startsWith('| routing-host-path'))).toBe('| routing-host-path | ✅ 2.3s | ❌ 2.3s | ✅ 2.3s | ✅ 2.3s | ✅ 2.3s |');
    expect(md).toContain('14 passed, 1 failed');
    expect(md).toContain(ENVOY_TEXT);
    expect(md).toContain('logs/1.37.0/routing-host-path/cell.log');
  });

  it('report.html links a failing cell to its details and logs', () => {
    const paths = writeReport(dir, sample());
    const html = readFileSync(paths.html, 'utf8');
    expect(html).toContain('href="#fail-1_37_0-routing-host-path"');
    expect(html).toContain('id="fail-1_37_0-routing-host-path"');
    expect(html).toContain('href="logs/1.37.0/routing-host-path/envoy.log"');
    expect(html).toContain('has duplicate address');
    expect(JSON.parse(readFileSync(paths.json, 'utf8')).cells).toHaveLength(15);
  });

  it('report.html renders in headless Chromium to a non-blank matrix of green and red', async () => {
    const { html } = writeReport(dir, sample());
    const image = decodePng(await screenshot(html));
    const seen = analyse(image, { green: PASS_GREEN, red: FAIL_RED });
    expect(image.width).toBe(1280);
    // A blank page is one colour; the matrix has text, a table, 14 green cells and a red one.
    expect(seen.inked, JSON.stringify(seen)).toBeGreaterThan(0.05);
    expect(seen.colours).toBeGreaterThan(50);
    expect(seen.near.green).toBeGreaterThan(14 * 1500);
    expect(seen.near.red).toBeGreaterThan(1500);
  }, 120_000);
});
