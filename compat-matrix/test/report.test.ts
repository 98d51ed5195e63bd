/** The report renders (Markdown and HTML), and report.html is a real, non-blank page in headless Chromium. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type MatrixReport, renderHtml, renderMarkdown, writeReport } from '../src/report.js';
import { binaryVersion, parseEnvoyVersionOutput } from '../src/runtime/version.js';
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

describe('Envoy version from the binary', () => {
  it('reads `envoy --version` output and treats a dev build as the next minor', () => {
    expect(parseEnvoyVersionOutput('\nenvoy  version: 8f9b0a1c2d3e/1.40.0/Clean/RELEASE/BoringSSL\n\n')).toBe('1.40.0');
    expect(parseEnvoyVersionOutput('envoy  version: 0123abcd/1.41.0-dev/Modified/RELEASE/BoringSSL')).toBe('1.41.0-dev');
    expect(parseEnvoyVersionOutput('exec /docker-entrypoint.sh: no such file or directory')).toBeUndefined();
    expect(binaryVersion('1.40.0')).toEqual({ reported: '1.40.0', effective: '1.40.0' });
    expect(binaryVersion('1.41.0-dev')).toEqual({
      reported: '1.41.0-dev',
      effective: '1.41.0',
      note: 'Envoy 1.41.0-dev is a development build: treated as 1.41.0, the next minor after 1.40',
    });
    expect(() => binaryVersion('main')).toThrow(/not an Envoy version/);
  });

  it('the report says which version an image’s binary reported, and why the table read another', () => {
    const report = sample();
    report.targets.push({
      label: 'envoyproxy/envoy:dev-0123abcd',
      image: 'envoyproxy/envoy:dev-0123abcd',
      version: '1.41.0',
      binaryVersion: '1.41.0-dev',
      versionNote: binaryVersion('1.41.0-dev').note as string,
      provisionMs: 10,
      provisioned: 'image envoyproxy/envoy:dev-0123abcd',
    });
    report.cleanup = { orphansRemoved: [], leftovers: [], errors: [] };
    const md = renderMarkdown(report);
    expect(md).toContain(
      'Envoy envoyproxy/envoy:dev-0123abcd: version 1.41.0-dev read from its binary; Envoy 1.41.0-dev is a development build: treated as 1.41.0, the next minor after 1.40.',
    );
    expect(md).toContain('Cleanup: nothing left behind.');
    report.cleanup = { orphansRemoved: ['0123456789ab (pid 42)'], leftovers: ['fedcba987654'], errors: ['the end-of-run sweep failed: boom'] };
    const bad = renderMarkdown(report);
    expect(bad).toContain('**Cleanup failed**: 1 container(s) of this run still exist: fedcba987654');
    expect(bad).toContain('**Cleanup error**: the end-of-run sweep failed: boom');
    expect(bad).toContain('Removed 1 container(s) left by runs that died: 0123456789ab (pid 42)');
    expect(renderHtml(report)).toContain('binary 1.41.0-dev → 1.41.0');
  });
});
