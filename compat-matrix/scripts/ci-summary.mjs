#!/usr/bin/env node
// The workflow's job summary: one line per Envoy release (pass/fail, counts, new
// or not), then the matrix (report.md). Also writes REPORT_DIR/releases.json.
// A missing report is said plainly and fails (exit 1).
//
// Usage: ci-summary.mjs REPORT_DIR [DISCOVERED_VERSIONS_COMMA_SEPARATED]
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir = 'compat-report', discoveredArg = ''] = process.argv.slice(2);
const discovered = new Set(discoveredArg.split(',').filter(Boolean));
const reportFile = join(dir, 'report.json');
if (!existsSync(reportFile)) {
  process.stdout.write(`## meshcp compatibility matrix\n\n**No report**: the matrix did not write ${reportFile} (see the "Run the matrix" step's log).\n`);
  process.exit(1);
}
const report = JSON.parse(readFileSync(reportFile, 'utf8'));
const releases = report.targets.map((t) => {
  const cells = report.cells.filter((c) => c.target === t.label);
  const count = (s) => cells.filter((c) => c.status === s).length;
  const failed = count('fail');
  const result = t.provisionError ? 'not provisioned' : failed > 0 ? 'fail' : 'pass';
  return {
    release: t.label,
    version: t.version ?? null,
    binaryVersion: t.binaryVersion ?? null,
    new: discovered.has(t.label),
    result,
    passed: count('pass'),
    failed,
    skipped: count('skip'),
    ...(t.versionNote ? { note: t.versionNote } : {}),
    ...(t.provisionError ? { error: t.provisionError } : {}),
  };
});
writeFileSync(join(dir, 'releases.json'), `${JSON.stringify({ runtime: report.runtime, releases }, null, 2)}\n`);
const mark = { pass: '✅ pass', fail: '❌ fail', 'not provisioned': '❌ not provisioned' };
const lines = ['## Envoy releases', '', '| Envoy | result | passed | failed | skipped | |', '| --- | --- | --- | --- | --- | --- |'];
for (const r of releases) {
  const extra = [r.new ? 'new release' : '', r.note ?? '', r.error ? r.error.slice(0, 200) : ''].filter(Boolean).join('; ');
  lines.push(`| ${r.release} | ${mark[r.result]} | ${r.passed} | ${r.failed} | ${r.skipped} | ${extra.replace(/\|/g, '/')} |`);
}
const discoveryFile = join(dir, 'discovery.json');
if (existsSync(discoveryFile)) {
  const discovery = JSON.parse(readFileSync(discoveryFile, 'utf8'));
  if (discovery.releases.length === 0) lines.push('', `No Envoy release newer than ${discovery.since} (the last verified one).`);
  for (const w of discovery.warnings) lines.push('', `Discovery warning: ${w}`);
}
process.stdout.write(`${lines.join('\n')}\n\n${readFileSync(join(dir, 'report.md'), 'utf8')}`);
