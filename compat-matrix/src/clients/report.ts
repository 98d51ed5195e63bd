/** The client axis in report.md and report.html: client version × scenario, what each version lacks, failures with the client's own text. */
import type { ClientAxisReport, ClientCellResult } from './run.js';

const MARK = { pass: '✅', fail: '❌', skip: '➖' } as const;

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

function cellOf(report: ClientAxisReport, target: string, scenario: string): ClientCellResult | undefined {
  return report.cells.find((c) => c.target === target && c.scenario === scenario);
}

export function clientSummary(report: ClientAxisReport): { passed: number; failed: number; skipped: number; total: number } {
  const count = (s: ClientCellResult['status']) => report.cells.filter((c) => c.status === s).length;
  return { passed: count('pass'), failed: count('fail'), skipped: count('skip'), total: report.cells.length };
}

export function renderClientMarkdown(report: ClientAxisReport): string {
  const s = clientSummary(report);
  const head = ['scenario', ...report.targets.map((t) => t.label)];
  const lines = [
    '## Proxyless gRPC clients',
    '',
    `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped of ${s.total} cells · ${seconds(report.durationMs)} wall time`,
    '',
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
  ];
  for (const scenario of report.scenarios) {
    const row = report.targets.map((t) => {
      const c = cellOf(report, t.label, scenario.id);
      return c ? `${MARK[c.status]} ${seconds(c.durationMs)}` : '';
    });
    lines.push(`| ${scenario.id} | ${row.join(' | ')} |`);
  }
  lines.push('', '| client | profile | lacks (per its capability table) | install |', '| --- | --- | --- | --- |');
  for (const t of report.targets)
    lines.push(
      `| ${t.label} | ${t.profile} | ${t.lacks.join(', ') || '—'} | ${t.installError ? `❌ ${t.installError.slice(0, 200)}` : seconds(t.installMs)} |`,
    );
  const failures = report.cells.filter((c) => c.status === 'fail');
  if (failures.length > 0) {
    lines.push('', '### Client failures', '');
    for (const c of failures) {
      lines.push(`- **${c.scenario} × ${c.target}**: ${(c.reason ?? '').replace(/\s+/g, ' ').slice(0, 700)}`);
      for (const e of c.clientErrors) lines.push(`  - client: \`${e.replace(/`/g, "'").replace(/\s+/g, ' ').slice(0, 500)}\``);
      lines.push(`  - logs: ${Object.values(c.logs).join(', ')}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] as string);
}

function anchor(c: ClientCellResult): string {
  return `client-fail-${c.target}-${c.scenario}`.replace(/[^A-Za-z0-9_-]/g, '_');
}

export function renderClientHtml(report: ClientAxisReport): string {
  const s = clientSummary(report);
  const header = report.targets
    .map(
      (t) =>
        `<th scope="col">${esc(t.label)}<br><span class="small">${esc(t.profile)}</span>${t.installError ? '<br><span class="small bad">not installed</span>' : ''}</th>`,
    )
    .join('');
  const rows = report.scenarios
    .map((sc) => {
      const cells = report.targets
        .map((t) => {
          const c = cellOf(report, t.label, sc.id);
          if (!c) return '<td class="none"></td>';
          const body = `<span class="mark">${c.status === 'pass' ? '✓' : c.status === 'fail' ? '✗' : '–'}</span><span class="small">${seconds(c.durationMs)}</span>`;
          const href = c.status === 'fail' ? `#${anchor(c)}` : c.logs.cell ? esc(c.logs.cell) : '';
          return `<td class="${c.status}" title="${esc(c.reason ?? `${c.status} in ${seconds(c.durationMs)}`)}">${href ? `<a href="${href}">${body}</a>` : body}</td>`;
        })
        .join('');
      return `<tr><th scope="row"><code>${esc(sc.id)}</code><br><span class="small">${esc(sc.title)}</span></th>${cells}</tr>`;
    })
    .join('\n');
  const failures = report.cells
    .filter((c) => c.status === 'fail')
    .map(
      (c) => `<section class="failure" id="${anchor(c)}">
<h3>✗ ${esc(c.scenario)} × ${esc(c.target)} <span class="small">(${seconds(c.durationMs)})</span></h3>
<pre>${esc(c.reason ?? '')}</pre>
${c.clientErrors.length > 0 ? `<p>The client said:</p><pre class="envoy">${esc(c.clientErrors.join('\n'))}</pre>` : ''}
<p>Logs: ${Object.entries(c.logs)
        .map(([k, v]) => `<a href="${esc(v)}">${esc(k)}</a>`)
        .join(' · ')}</p>
</section>`,
    )
    .join('\n');
  const lacks = report.targets
    .map((t) => `<li><b>${esc(t.label)}</b> (${esc(t.registry)}): lacks ${esc(t.lacks.join(', ') || 'nothing in the table')}</li>`)
    .join('');
  return `<h2>Proxyless gRPC clients</h2>
<div class="banner" style="background:${s.failed === 0 ? '#1a7f37' : '#cf222e'}">${s.passed} passed · ${s.failed} failed · ${s.skipped} skipped of ${s.total}</div>
<table>
<thead><tr><th scope="col">scenario</th>${header}</tr></thead>
<tbody>
${rows}
</tbody></table>
${failures ? `<h3>Client failures</h3>\n${failures}` : ''}
<h3>Client versions</h3><ul>${lacks}</ul>
`;
}
