/**
 * The matrix report: report.json (the data), report.md (the table, for PRs and
 * closing notes) and report.html (a matrix read at a glance; a failing cell links
 * to its logs and shows Envoy's error text).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderClientHtml, renderClientMarkdown } from './clients/report.js';
import type { ClientAxisReport } from './clients/run.js';
import type { CellPhase } from './scenario.js';

export type CellStatus = 'pass' | 'fail' | 'skip';

export interface CellResult {
  target: string;
  /** Envoy's version as run (target version, or what the image reported). */
  version?: string;
  scenario: string;
  status: CellStatus;
  durationMs: number;
  /** Where a failing cell stopped. */
  phase?: CellPhase;
  /** Why it failed (or was skipped), in words a reader can act on. */
  reason?: string;
  /** NACK texts Envoy sent, as recorded by the control plane (per type). */
  envoyErrors: string[];
  /** Log files, relative to the report's directory. */
  logs: Record<string, string>;
  notes: Record<string, string | number>;
}

export interface TargetResult {
  label: string;
  version?: string;
  image?: string;
  provisionMs: number;
  provisioned?: string;
  provisionError?: string;
  /** For an image: what its binary reported (`version` is what the table was read with). */
  binaryVersion?: string;
  /** Why `version` differs from `binaryVersion` (a dev build is read as the next minor). */
  versionNote?: string;
}

export interface MatrixReport {
  tool: 'meshcp compat run';
  runId: string;
  runtime: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  concurrency: number;
  targets: TargetResult[];
  scenarios: { id: string; title: string }[];
  cells: CellResult[];
  /** What the run removed and what it could not: leftovers or errors fail the run. */
  cleanup?: { orphansRemoved: string[]; leftovers: string[]; errors: string[] };
  /** Both axes together. */
  summary: { passed: number; failed: number; skipped: number; total: number };
  /** The proxyless gRPC client axis (`--client`), when it ran. */
  clients?: ClientAxisReport;
}

export function cellOf(report: MatrixReport, target: string, scenario: string): CellResult | undefined {
  return report.cells.find((c) => c.target === target && c.scenario === scenario);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

const MARK: Record<CellStatus, string> = { pass: '✅', fail: '❌', skip: '➖' };

export function renderMarkdown(report: MatrixReport): string {
  const { summary } = report;
  const head = ['scenario', ...report.targets.map((t) => `Envoy ${t.label}`)];
  const lines = [
    `# meshcp compatibility matrix`,
    '',
    `${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped of ${summary.total} cells · runtime ${report.runtime} · ` +
      `${seconds(report.durationMs)} wall time, ${report.concurrency} cells at a time · ${report.startedAt}`,
    '',
  ];
  // A client-only run (`--client` without `--envoy`) has no Envoy table.
  if (report.targets.length > 0) lines.push(`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`);
  for (const scenario of report.targets.length > 0 ? report.scenarios : []) {
    const row = report.targets.map((t) => {
      const cell = cellOf(report, t.label, scenario.id);
      return cell ? `${MARK[cell.status]} ${seconds(cell.durationMs)}` : '';
    });
    lines.push(`| ${scenario.id} | ${row.join(' | ')} |`);
  }
  for (const t of report.targets) {
    if (t.binaryVersion) lines.push('', `Envoy ${t.label}: version ${t.binaryVersion} read from its binary${t.versionNote ? `; ${t.versionNote}` : ''}.`);
  }
  lines.push('', ...cleanupLines(report));
  const failures = report.cells.filter((c) => c.status === 'fail');
  if (failures.length > 0) {
    lines.push('', '## Failures', '');
    for (const c of failures) {
      const reason = (c.reason ?? '').replace(/\s+/g, ' ').slice(0, 600);
      lines.push(`- **${c.scenario} × Envoy ${c.target}** (${c.phase ?? 'scenario'}): ${reason}`);
      for (const e of c.envoyErrors) lines.push(`  - Envoy: \`${e.replace(/`/g, "'").slice(0, 400)}\``);
      lines.push(`  - logs: ${Object.values(c.logs).join(', ')}`);
    }
  }
  if (report.clients) lines.push('', renderClientMarkdown(report.clients));
  return `${lines.join('\n')}\n`;
}

/** The run's cleanup in words (empty when there was nothing to say). */
export function cleanupLines(report: MatrixReport): string[] {
  const c = report.cleanup;
  if (!c) return [];
  const lines: string[] = [];
  if (c.leftovers.length > 0) lines.push(`**Cleanup failed**: ${c.leftovers.length} container(s) of this run still exist: ${c.leftovers.join(', ')}`);
  for (const e of c.errors) lines.push(`**Cleanup error**: ${e}`);
  if (c.orphansRemoved.length > 0) lines.push(`Removed ${c.orphansRemoved.length} container(s) left by runs that died: ${c.orphansRemoved.join(', ')}`);
  if (lines.length === 0) lines.push('Cleanup: nothing left behind.');
  return lines;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] as string);
}

function anchor(c: CellResult): string {
  return `fail-${c.target}-${c.scenario}`.replace(/[^A-Za-z0-9_-]/g, '_');
}

export function renderHtml(report: MatrixReport): string {
  const { summary } = report;
  const ok = summary.failed === 0;
  const header = report.targets
    .map(
      (t) =>
        `<th scope="col">Envoy ${esc(t.label)}${t.binaryVersion ? `<br><span class="small">binary ${esc(t.binaryVersion)}${t.versionNote ? ` → ${esc(t.version ?? '')}` : ''}</span>` : ''}${t.provisionError ? '<br><span class="small bad">not provisioned</span>' : ''}</th>`,
    )
    .join('');
  const rows = report.scenarios
    .map((s) => {
      const cells = report.targets
        .map((t) => {
          const c = cellOf(report, t.label, s.id);
          if (!c) return '<td class="none"></td>';
          const title = esc(c.reason ?? `${c.status} in ${seconds(c.durationMs)}`);
          const body = `<span class="mark">${c.status === 'pass' ? '✓' : c.status === 'fail' ? '✗' : '–'}</span><span class="small">${seconds(c.durationMs)}</span>`;
          const href = c.status === 'fail' ? `#${anchor(c)}` : c.logs.cell ? esc(c.logs.cell) : '';
          return `<td class="${c.status}" title="${title}">${href ? `<a href="${href}">${body}</a>` : body}</td>`;
        })
        .join('');
      return `<tr><th scope="row"><code>${esc(s.id)}</code><br><span class="small">${esc(s.title)}</span></th>${cells}</tr>`;
    })
    .join('\n');
  const failures = report.cells
    .filter((c) => c.status === 'fail')
    .map(
      (c) => `<section class="failure" id="${anchor(c)}">
<h3>✗ ${esc(c.scenario)} × Envoy ${esc(c.target)} <span class="small">(${esc(c.phase ?? 'scenario')}, ${seconds(c.durationMs)})</span></h3>
<pre>${esc(c.reason ?? '')}</pre>
${c.envoyErrors.length > 0 ? `<p>Envoy said:</p><pre class="envoy">${esc(c.envoyErrors.join('\n'))}</pre>` : ''}
<p>Logs: ${Object.entries(c.logs)
        .map(([k, v]) => `<a href="${esc(v)}">${esc(k)}</a>`)
        .join(' · ')}</p>
</section>`,
    )
    .join('\n');
  const targets = report.targets
    .map(
      (t) =>
        `<li><b>${esc(t.label)}</b>: ${t.provisionError ? `<span class="bad">${esc(t.provisionError)}</span>` : esc(t.provisioned ?? '')}${t.versionNote ? ` <b>${esc(t.versionNote)}</b>` : ''} <span class="small">(${seconds(t.provisionMs)})</span></li>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>meshcp compatibility matrix</title>
<style>
body { font: 15px/1.4 system-ui, sans-serif; margin: 24px; color: #1b1f24; background: #fff; }
h1 { margin: 0 0 4px; font-size: 24px; }
.banner { display: inline-block; padding: 6px 14px; border-radius: 6px; font-weight: 600; color: #fff; background: ${ok ? '#1a7f37' : '#cf222e'}; margin: 8px 0 16px; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d0d7de; padding: 8px 12px; text-align: center; }
thead th { background: #f6f8fa; }
tbody th { text-align: left; font-weight: normal; background: #f6f8fa; }
td.pass { background: #2da44e; } td.fail { background: #cf222e; } td.skip { background: #afb8c1; } td.none { background: #fff; }
td a, td { color: #fff; text-decoration: none; }
td .mark { display: block; font-size: 22px; font-weight: 700; }
.small { font-size: 12px; opacity: 0.85; }
.bad { color: #cf222e; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; padding: 8px; white-space: pre-wrap; word-break: break-word; }
pre.envoy { border-left: 4px solid #cf222e; }
.failure h3 { color: #cf222e; }
</style></head>
<body>
<h1>meshcp compatibility matrix</h1>
<div class="banner">${summary.passed} passed · ${summary.failed} failed · ${summary.skipped} skipped of ${summary.total}</div>
<p class="small">runtime ${esc(report.runtime)} · ${esc(report.startedAt)} · ${seconds(report.durationMs)} wall time · ${report.concurrency} cells at a time · run ${esc(report.runId)}</p>
${
  report.targets.length > 0
    ? `<table>
<thead><tr><th scope="col">scenario</th>${header}</tr></thead>
<tbody>
${rows}
</tbody></table>`
    : ''
}
${failures ? `<h2>Failures</h2>\n${failures}` : ''}
${report.targets.length > 0 ? `<h2>Envoy targets</h2><ul>${targets}</ul>` : ''}
${report.clients ? renderClientHtml(report.clients) : ''}
<h2>Cleanup</h2>${cleanupLines(report)
    .map((l) => `<p${/^\*\*/.test(l) ? ' class="bad"' : ''}>${esc(l.replace(/\*\*/g, ''))}</p>`)
    .join('')}
</body></html>
`;
}

export function writeReport(dir: string, report: MatrixReport): { json: string; md: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const paths = { json: join(dir, 'report.json'), md: join(dir, 'report.md'), html: join(dir, 'report.html') };
  writeFileSync(paths.json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(paths.md, renderMarkdown(report));
  writeFileSync(paths.html, renderHtml(report));
  return paths;
}
