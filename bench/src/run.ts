/**
 * The benchmark driver. For every (client count, server) it starts the server in
 * its own process, runs the Go load generator against it (cold start: every
 * stream connects at once; then single endpoint changes; then, at the churn size,
 * 50 changes/s for 60 s), stops the server, and writes the figures as JSON and as
 * a markdown table of ratios (meshcp ÷ go-control-plane).
 *
 *   node bench/dist/run.js                      # issue 2's run: meshcp only, 1,000 and 5,000 clients
 *   node bench/dist/run.js --compare --doc      # everything: meshcp, go-control-plane and the floor, SotW and Delta,
 *                                               # TLS at 1,000; rewrites docs/performance.md's figures
 *   node bench/dist/run.js --soak --doc         # the soak (soak.ts); rewrites its section of docs/performance.md
 *
 * Options: --streams 1000,5000,10000  --servers meshcp,gcp,floor  --modes sotw,delta
 *          --churn-streams 1000 --churn-rate 50 --churn-seconds 60 (0: no churn)
 *          --auth-streams 1000 (0: no TLS run)  --services 1000 --endpoints 10
 *          --profile (node --cpu-prof on the meshcp server)  --out DIR (default bench/results)
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { NEWEST_ENVOY_RELEASE } from '@meshcp/xds-protos';
import { parse } from 'yaml';
import { type Agreement, agreement, type Bucket, parseHistogram } from './histogram.js';
import { runModelScale } from './model-scale.js';
import {
  BENCH_CACHE,
  FLOOR_SERVER_JS,
  GCP_SERVER_BIN,
  LOADGEN_BIN,
  MESHCP_CLI_JS,
  MESHCP_SERVER_JS,
  REPO_ROOT,
  runCommand,
  type Server,
  startServer,
} from './procs.js';
import { summarizeProfiles } from './profile-summary.js';
import { serveFlags, startServe } from './serve-peer.js';
import { runSoak } from './soak.js';
import { buildWorkload, type Workload, workloadJson, workloadYaml } from './workload.js';

/** The node:cluster primary of the production XdsWorkerPool, fed like the in-process server (workers-peer.ts). */
const WORKERS_PEER_JS = join(REPO_ROOT, 'bench', 'dist', 'workers-peer.js');

type ServerKind = 'meshcp' | 'gcp' | 'floor';

interface Percentiles {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}
interface ProcStat {
  cpuSeconds: number;
  rssKB: number;
  peakRssKB: number;
  atUnixNano: number;
}
interface ChangeSummary {
  bucketCounts?: number[];
  changes: number;
  expectedStreamChanges: number;
  convergedStreamChanges: number;
  perStreamMs: Percentiles;
  perChangeMs: Percentiles;
  achievedRate?: number;
  postMs: Percentiles;
}
export interface LoadgenReport {
  sync: { streams: number; synced: number; timeToFullSyncMs: number; perStreamMs: Percentiles };
  change?: ChangeSummary;
  churn?: ChangeSummary;
  server: Record<string, ProcStat>;
  loadgen: Record<string, ProcStat>;
  checks: { ok: boolean; errors: string[] } & Record<string, unknown>;
  bytesReceived: number;
  responses: number;
  errors?: string[];
  scrape?: string;
  samples?: { atMs: number; cpuSeconds: number; rssKB: number; streams: number; reconnects: number }[];
  reconnects?: number;
  resyncMs?: Percentiles;
  startedAtUnixNano?: number;
}

/** meshcp's own convergence histogram (EDS) after the single-change phase, against the load generator's figures. */
export interface ConvergenceCheck {
  buckets: Bucket[];
  p50: Agreement;
  p99: Agreement;
}

export interface RunResult {
  server: ServerKind;
  streams: number;
  mode: string;
  /** 'tls': TLS with a client certificate (meshcp's authenticating server). */
  transport?: 'plaintext' | 'tls';
  /** Only for the convergence check: the in-process bench server, run because the tables' meshcp was \`meshcp serve\`. */
  checkOnly?: boolean;
  report?: LoadgenReport;
  convergence?: ConvergenceCheck;
  error?: string;
}

/** meshcp_proxy_convergence_seconds' bucket bounds (control-plane/src/metrics.ts): the load generator counts over the same. */
const CONVERGENCE_BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const VIA_LABEL: Record<MeshcpVia['via'], string> = { bench: 'in-process bench server', workers: 'worker pool', serve: 'meshcp serve' };

const SERVER_LABEL: Record<ServerKind, string> = { meshcp: 'meshcp', gcp: 'go-control-plane', floor: 'floor (bare grpc-js)' };

/** Client certificate files from `meshcp identity issue`, and the CA state the server loads. */
interface TlsFiles {
  stateDir: string;
  ca: string;
  cert: string;
  key: string;
}

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 23)}] ${message}\n`);
}

/** Writes the workload for both servers: meshcp's YAML, and `meshcp translate` output per zone for go-control-plane. */
export async function prepareWorkload(dir: string, w: Workload, forGoControlPlane = true): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const meshFile = join(dir, 'mesh.yaml');
  writeFileSync(meshFile, workloadYaml(w));
  writeFileSync(join(dir, 'workload.json'), workloadJson(w));
  // The per-zone translations only feed the go-control-plane peer.
  for (const zone of forGoControlPlane ? w.zones : []) {
    const args = [
      join(REPO_ROOT, 'control-plane', 'bin', 'meshcp.js'),
      'translate',
      '--file',
      meshFile,
      '--envoy-version',
      NEWEST_ENVOY_RELEASE,
      '--namespace',
      w.namespace,
      '--region',
      w.region,
      '--zone',
      zone,
    ];
    const out = await runCommand(process.execPath, args, 300_000);
    if (out.code !== 0) throw new Error(`meshcp translate failed: ${out.stderr.slice(-2000)}`);
    const translated = parse(out.stdout, { maxAliasCount: -1 }) as Record<string, unknown>;
    writeFileSync(join(dir, `zone-${zone}.json`), JSON.stringify({ zone, ...translated }));
  }
  return meshFile;
}

/**
 * How the meshcp side runs: the in-process bench server (one event loop), the worker pool
 * fed the same way (workers-peer.ts), or `meshcp serve` (with --workers when it has the flag).
 */
export interface MeshcpVia {
  via: 'bench' | 'workers' | 'serve';
  workers?: number;
  flags: Set<string>;
  w: Workload;
}

export async function startPeer(kind: ServerKind, dir: string, meshFile: string, profileDir?: string, tls?: TlsFiles, meshcp?: MeshcpVia): Promise<Server> {
  if (kind === 'gcp') return startServer('go-control-plane', GCP_SERVER_BIN, ['--resources', dir]);
  const nodeArgs = ['--max-old-space-size=8192'];
  if (kind === 'floor') return startServer('floor', process.execPath, [...nodeArgs, FLOOR_SERVER_JS, '--file', meshFile]);
  if (profileDir) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  if (meshcp?.via === 'serve') {
    return startServe(meshcp.w, meshcp.flags, {
      nodeArgs,
      ...(meshcp.workers !== undefined ? { workers: meshcp.workers } : {}),
      ...(tls ? { tlsStateDir: tls.stateDir } : {}),
    });
  }
  const tlsArgs = tls ? ['--tls-state-dir', tls.stateDir] : [];
  if (meshcp?.via === 'workers') {
    const workers = String(meshcp.workers ?? defaultWorkers());
    return startServer('meshcp workers', process.execPath, [...nodeArgs, WORKERS_PEER_JS, '--file', meshFile, '--workers', workers, ...tlsArgs]);
  }
  return startServer('meshcp', process.execPath, [...nodeArgs, MESHCP_SERVER_JS, '--file', meshFile, ...tlsArgs]);
}

/** The worker pool's size when --workers is not given: one per core, as `meshcp serve` defaults to (at least 2). */
function defaultWorkers(): number {
  return Math.max(2, availableParallelism());
}

const VIAS = ['bench', 'workers', 'serve'] as const;

/**
 * The meshcp variant when --meshcp-via is not given: the worker pool, which beat the
 * single event loop's initial-sync ratio against go-control-plane at 1,000 and 2,000
 * proxies in the development runs (docs/performance.md). Not `serve`: its file source
 * cannot apply 50 changes/s (docs/performance.md, "The file source under churn").
 */
const DEFAULT_VIA: MeshcpVia['via'] = 'workers';

/** `--meshcp-via` (default: DEFAULT_VIA). */
export async function meshcpVia(via: string | undefined, workers: string | undefined, w: Workload): Promise<MeshcpVia> {
  const flags = await serveFlags();
  if (via !== undefined && !(VIAS as readonly string[]).includes(via)) throw new Error(`--meshcp-via: ${via} is not one of ${VIAS.join(', ')}`);
  const chosen = (via as MeshcpVia['via'] | undefined) ?? DEFAULT_VIA;
  if (workers !== undefined && chosen === 'serve' && !flags.has('--workers')) log('note: `meshcp serve` has no --workers flag; --workers is ignored');
  if (workers !== undefined && chosen === 'bench') log('note: --workers has no effect with --meshcp-via bench (one event loop)');
  if (workers !== undefined && chosen === 'workers' && !(Number.isInteger(Number(workers)) && Number(workers) >= 2)) throw new Error('--workers must be ≥ 2');
  return { via: chosen, flags, w, ...(workers !== undefined ? { workers: Number(workers) } : {}) };
}

export function describeMeshcp(m: MeshcpVia): string {
  if (m.via === 'bench')
    return 'meshcp = the in-process bench server (bench/src/meshcp-server.ts: SnapshotCache + XdsServer, changes straight to setModel, no debounce)';
  if (m.via === 'workers')
    return `meshcp = the production xDS worker pool, ${m.workers ?? defaultWorkers()} workers (bench/src/workers-peer.ts: a node:cluster primary with SnapshotCache + XdsWorkerPool, changes straight to setModel, no debounce; CPU and RSS summed over the primary and its workers)`;
  const workers = m.flags.has('--workers') ? (m.workers !== undefined ? ` --workers ${m.workers}` : " (serve's default workers)") : ' (serve has no --workers)';
  return `meshcp = \`meshcp serve --file\`${workers}; a change rewrites the file (watch + re-parse + debounce included)`;
}

/** A mesh CA in a fresh state directory and a workload certificate from it (`meshcp identity issue`), for the TLS run. */
async function issueClientCertificate(namespace: string): Promise<TlsFiles> {
  const stateDir = mkdtempSync(join(BENCH_CACHE, 'tls-'));
  const out = join(stateDir, 'client');
  const args = [MESHCP_CLI_JS, 'identity', 'issue', '--namespace', namespace, '--service-account', 'bench', '--out', out, '--state-dir', stateDir];
  const result = await runCommand(process.execPath, args, 60_000);
  if (result.code !== 0) throw new Error(`meshcp identity issue failed: ${result.stderr.slice(-1000)}`);
  return { stateDir, ca: join(out, 'ca.pem'), cert: join(out, 'cert.pem'), key: join(out, 'key.pem') };
}

/** meshcp's EDS convergence histogram from the scraped metrics, compared with the load generator's p50/p99. */
export function convergenceCheck(report: LoadgenReport | undefined): ConvergenceCheck | undefined {
  if (!report?.scrape || !report.change || report.change.perStreamMs.n === 0) return undefined;
  const buckets = parseHistogram(report.scrape, 'meshcp_proxy_convergence_seconds', { type: 'EDS' });
  if (buckets.length === 0) return undefined;
  // The load generator counted its latencies over the same bounds (-buckets), +Inf last.
  const counts = report.change.bucketCounts;
  const own = counts?.length === buckets.length ? buckets.map((b, i) => ({ le: b.le, count: counts[i] ?? 0 })) : undefined;
  return {
    buckets,
    p50: agreement(buckets, 0.5, report.change.perStreamMs.p50, own),
    p99: agreement(buckets, 0.99, report.change.perStreamMs.p99, own),
  };
}

async function runOne(
  kind: ServerKind,
  streams: number,
  opts: {
    dir: string;
    meshFile: string;
    mode: string;
    churn: boolean;
    churnRate: number;
    churnSeconds: number;
    w: Workload;
    services: number;
    profileDir?: string;
    tls?: TlsFiles;
    meshcp: MeshcpVia;
  },
): Promise<RunResult> {
  const transport = opts.tls ? 'tls' : 'plaintext';
  log(
    `${SERVER_LABEL[kind]}${kind === 'meshcp' ? ` (${VIA_LABEL[opts.meshcp.via]})` : ''}: ${streams} ${opts.mode} streams${opts.tls ? ' over TLS with client certificates' : ''}${opts.churn ? `, churn ${opts.churnRate}/s for ${opts.churnSeconds} s` : ''}`,
  );
  const server = await startPeer(kind, opts.dir, opts.meshFile, opts.profileDir, opts.tls, opts.meshcp);
  try {
    const args = [
      `-target=127.0.0.1:${server.xdsPort}`,
      `-control=http://127.0.0.1:${server.controlPort}`,
      `-streams=${streams}`,
      `-mode=${opts.mode}`,
      `-zones=${opts.w.zones.join(',')}`,
      `-namespace=${opts.w.namespace}`,
      `-expect-clusters=${opts.services}`,
      `-services=${opts.services}`,
      `-endpoints=${opts.w.services.values().next().value?.length ?? 1}`,
      `-server-pid=${server.pid}`,
      '-changes=3',
      `-churn-rate=${opts.churn ? opts.churnRate : 0}`,
      `-churn-seconds=${opts.churnSeconds}`,
      '-sync-timeout=5m',
      '-change-timeout=60s',
      '-max-duration=15m',
      ...(kind === 'meshcp' ? [`-scrape=http://127.0.0.1:${server.controlPort}/metrics`, `-buckets=${CONVERGENCE_BOUNDS.join(',')}`] : []),
      ...(opts.tls ? [`-ca=${opts.tls.ca}`, `-cert=${opts.tls.cert}`, `-key=${opts.tls.key}`] : []),
    ];
    const out = await runCommand(LOADGEN_BIN, args, 16 * 60_000, (text) => process.stderr.write(text));
    let report: LoadgenReport | undefined;
    try {
      report = JSON.parse(out.stdout) as LoadgenReport;
    } catch {
      // no report: the error below says why
    }
    const error = out.code === 0 ? undefined : `loadgen exited ${out.code}: ${(report?.checks.errors ?? []).slice(0, 5).join('; ') || out.stderr.slice(-1500)}`;
    if (error) {
      log(error);
      // What the server said (its log lines, a worker's exit) is often the reason.
      const said = server.stderr().trim();
      if (said) log(`${server.name} stderr (last 2,000 characters):\n${said.slice(-2000)}`);
    }
    const convergence = convergenceCheck(report);
    if (report) delete report.scrape; // the EDS buckets are kept in `convergence`
    return {
      server: kind,
      streams,
      mode: opts.mode,
      transport,
      ...(report ? { report } : {}),
      ...(convergence ? { convergence } : {}),
      ...(error ? { error } : {}),
    };
  } finally {
    await server.stop();
  }
}

// ---------------------------------------------------------------- figures

export interface Figures {
  synced?: string;
  syncMs?: number;
  syncP50Ms?: number;
  changeP50Ms?: number;
  changeP99Ms?: number;
  changeMaxMs?: number;
  cpuSeconds?: number;
  cpuSyncSeconds?: number;
  peakRssMB?: number;
  rssPerStreamKB?: number;
  churnChangeP50Ms?: number;
  churnChangeP99Ms?: number;
  churnStreamP99Ms?: number;
  churnRate?: number;
  churnCpuSeconds?: number;
  checksOk?: boolean;
}

export function figures(r: LoadgenReport | undefined, streams: number): Figures {
  if (!r) return {};
  const idle = r.server.idle;
  const synced = r.server.synced;
  const changed = r.server.changed ?? synced;
  const end = r.server.end;
  const f: Figures = { checksOk: r.checks.ok, synced: `${r.sync.synced.toLocaleString('en-US')} / ${streams.toLocaleString('en-US')}` };
  if (r.sync.synced > 0) {
    // When some streams never synced (see the notes under the table) this is the time of the last one that did.
    f.syncMs = r.sync.timeToFullSyncMs;
    f.syncP50Ms = r.sync.perStreamMs.p50;
  }
  if (r.change && r.change.convergedStreamChanges > 0) {
    f.changeP50Ms = r.change.perStreamMs.p50;
    f.changeP99Ms = r.change.perStreamMs.p99;
    f.changeMaxMs = r.change.perChangeMs.n > 0 ? r.change.perChangeMs.max : undefined;
  }
  if (idle && synced) {
    f.cpuSyncSeconds = synced.cpuSeconds - idle.cpuSeconds;
    f.rssPerStreamKB = (synced.rssKB - idle.rssKB) / Math.max(r.sync.synced, 1);
  }
  if (idle && changed) f.cpuSeconds = changed.cpuSeconds - idle.cpuSeconds;
  if (end) f.peakRssMB = end.peakRssKB / 1024;
  if (r.churn) {
    f.churnChangeP50Ms = r.churn.perChangeMs.p50;
    f.churnChangeP99Ms = r.churn.perChangeMs.p99;
    f.churnStreamP99Ms = r.churn.perStreamMs.p99;
    f.churnRate = r.churn.achievedRate;
    const before = r.server.changed ?? synced;
    const after = r.server.churnConverged;
    if (before && after) f.churnCpuSeconds = after.cpuSeconds - before.cpuSeconds;
  }
  return f;
}

const ROWS: { key: keyof Figures; label: string; digits: number }[] = [
  { key: 'synced', label: 'streams that completed the initial sync', digits: 0 },
  { key: 'syncMs', label: 'time to full initial sync, all connect at once (ms; last synced stream)', digits: 0 },
  { key: 'syncP50Ms', label: 'initial sync, per stream p50 (ms)', digits: 0 },
  { key: 'changeP50Ms', label: 'one endpoint change → ACK, p50 over streams (ms)', digits: 1 },
  { key: 'changeP99Ms', label: 'one endpoint change → ACK, p99 over streams (ms)', digits: 1 },
  { key: 'changeMaxMs', label: 'one endpoint change → last ACK (ms)', digits: 1 },
  { key: 'cpuSyncSeconds', label: 'server CPU, initial sync (s)', digits: 2 },
  { key: 'cpuSeconds', label: 'server CPU, sync + 3 changes (s)', digits: 2 },
  { key: 'peakRssMB', label: 'server peak RSS (MB)', digits: 0 },
  { key: 'rssPerStreamKB', label: 'server RSS per synced stream (KB)', digits: 1 },
  { key: 'churnChangeP50Ms', label: 'churn: change → last ACK, p50 over changes (ms)', digits: 1 },
  { key: 'churnChangeP99Ms', label: 'churn: change → last ACK, p99 over changes (ms)', digits: 1 },
  { key: 'churnStreamP99Ms', label: 'churn: change → ACK, p99 over stream × change (ms)', digits: 1 },
  { key: 'churnRate', label: 'churn: changes applied per second', digits: 1 },
  { key: 'churnCpuSeconds', label: 'churn: server CPU, 60 s churn + convergence (s)', digits: 2 },
];

function fmt(value: number | string | boolean | undefined, digits: number): string {
  if (typeof value === 'string') return value;
  if (value === undefined || typeof value === 'boolean') return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function markdownTable(all: RunResult[], servers: ServerKind[]): string {
  const results = all.filter((r) => (r.transport ?? 'plaintext') === 'plaintext' && !r.checkOnly);
  const modes = [...new Set(results.map((r) => r.mode))];
  const sizes = [...new Set(results.map((r) => r.streams))].sort((a, b) => a - b);
  const lines: string[] = [];
  const compare = servers.includes('meshcp') && servers.includes('gcp');
  const vsFloor = servers.includes('meshcp') && servers.includes('floor');
  for (const mode of modes) {
    for (const streams of sizes) {
      const by = (kind: ServerKind) => results.find((r) => r.streams === streams && r.server === kind && r.mode === mode);
      if (!servers.some((s) => by(s))) continue;
      const fig = Object.fromEntries(servers.map((s) => [s, figures(by(s)?.report, streams)])) as Record<ServerKind, Figures>;
      lines.push(`#### ${streams.toLocaleString('en-US')} proxies (${mode})`, '');
      const header = ['figure', ...servers.map((s) => SERVER_LABEL[s])];
      if (compare) header.push('meshcp ÷ go-control-plane');
      if (vsFloor) header.push('meshcp ÷ floor');
      lines.push(`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`);
      const ratio = (m: unknown, d: unknown) => (typeof m === 'number' && typeof d === 'number' && d > 0 ? `${(m / d).toFixed(2)}×` : '—');
      for (const row of ROWS) {
        const values = servers.map((s) => fig[s][row.key] as number | string | undefined);
        if (values.every((v) => v === undefined)) continue;
        const cells = [row.label, ...values.map((v) => fmt(v, row.digits))];
        if (compare) cells.push(ratio(fig.meshcp[row.key], fig.gcp[row.key]));
        if (vsFloor) cells.push(ratio(fig.meshcp[row.key], fig.floor[row.key]));
        lines.push(`| ${cells.join(' | ')} |`);
      }
      const notes = servers
        .map((s) => {
          const r = by(s);
          if (r?.error) return `${SERVER_LABEL[s]}: ${r.error.slice(0, 300)}`;
          if (r?.report && !r.report.checks.ok) return `${SERVER_LABEL[s]}: self-checks failed: ${r.report.checks.errors.slice(0, 2).join('; ')}`;
          if (r?.report && r.report.sync.synced < streams) return `${SERVER_LABEL[s]}: only ${r.report.sync.synced}/${streams} streams synced`;
          return undefined;
        })
        .filter(Boolean);
      if (notes.length > 0) lines.push('', ...notes.map((n) => `> ${n}`));
      lines.push('');
    }
  }
  return lines.join('\n');
}

const ms = (v: number | undefined) => (v === undefined ? '—' : v.toLocaleString('en-US', { maximumFractionDigits: 1, minimumFractionDigits: 1 }));

/** meshcp's own convergence histogram against the load generator's change → ACK, per run. */
export function convergenceTable(results: RunResult[], meshcpDescription = ''): string {
  // With meshcp via serve only the in-process server's check run is comparable (see the note below).
  const checkRuns = results.filter((r) => r.checkOnly && r.convergence);
  const rows = checkRuns.length > 0 ? checkRuns : results.filter((r) => r.server === 'meshcp' && r.convergence);
  if (rows.length === 0) return '';
  const viaServe = meshcpDescription.includes('meshcp serve');
  const lines = [
    '#### meshcp_proxy_convergence_seconds{type="EDS"} against the load generator (3 single changes)',
    '',
    '| run | p50: load generator exact / same buckets (ms) | p50: meshcp histogram (ms), bucket | agree | p99: load generator exact / same buckets (ms) | p99: meshcp histogram (ms), bucket | agree |',
    '| --- | ---: | ---: | --- | ---: | ---: | --- |',
  ];
  const cell = (a: Agreement) => `${ms(a.histogramMs)} (${a.bucketMs[0]}–${a.bucketMs[1]})`;
  const own = (a: Agreement) => `${ms(a.loadgenMs)} / ${ms(a.loadgenBucketedMs)}`;
  for (const r of rows) {
    const c = r.convergence as ConvergenceCheck;
    const name = `${r.streams.toLocaleString('en-US')} ${r.mode}${r.transport === 'tls' ? ' TLS' : ''}${r.checkOnly ? ' (in-process bench server)' : ''}`;
    lines.push(
      `| ${name} | ${own(c.p50)} | ${cell(c.p50)} | ${c.p50.agrees ? 'yes' : '**no**'} | ${own(c.p99)} | ${cell(c.p99)} | ${c.p99.agrees ? 'yes' : '**no**'} |`,
    );
  }
  if (viaServe && checkRuns.length === 0) {
    lines.push(
      '',
      '> Not comparable in this run: meshcp ran as `meshcp serve`, whose histogram starts when the change reaches the cache (after the file watch, re-parse and debounce); the load generator starts before it writes the file. Run with `--meshcp-via bench` for the check.',
    );
  }
  lines.push('');
  return lines.join('\n');
}

/** meshcp plaintext against TLS with client certificates, same size and mode. */
export function authTable(results: RunResult[]): string {
  const tls = results.filter((r) => r.server === 'meshcp' && r.transport === 'tls');
  const lines: string[] = [];
  for (const t of tls) {
    const plain = results.find(
      (r) => r.server === 'meshcp' && r.mode === t.mode && r.streams === t.streams && (r.transport ?? 'plaintext') === 'plaintext' && !r.checkOnly,
    );
    const p = figures(plain?.report, t.streams);
    const q = figures(t.report, t.streams);
    lines.push(
      `#### Authentication cost: ${t.streams.toLocaleString('en-US')} proxies (${t.mode}), meshcp`,
      '',
      '| figure | plaintext (--insecure) | TLS + client certificate | TLS ÷ plaintext |',
      '| --- | ---: | ---: | ---: |',
    );
    for (const row of ROWS.filter((r) => !r.key.startsWith('churn'))) {
      const a = p[row.key];
      const b = q[row.key];
      if (a === undefined && b === undefined) continue;
      const ratio = typeof a === 'number' && typeof b === 'number' && a > 0 ? `${(b / a).toFixed(2)}×` : '—';
      lines.push(`| ${row.label} | ${fmt(a, row.digits)} | ${fmt(b, row.digits)} | ${ratio} |`);
    }
    if (t.error) lines.push('', `> TLS run: ${t.error.slice(0, 300)}`);
    else if (t.report && !t.report.checks.ok) lines.push('', `> TLS run: self-checks failed: ${t.report.checks.errors.slice(0, 2).join('; ')}`);
    lines.push('');
  }
  return lines.join('\n');
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpus().length} × ${cpu.trim()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, Linux; load generator and server on the same cores`;
}

export const FIGURES_MARKERS = { begin: '<!-- bench:figures:begin -->', end: '<!-- bench:figures:end -->' };

/** Replaces the text between two markers of docs/performance.md (appends them when absent). */
export function writeDoc(section: string, markers = FIGURES_MARKERS): void {
  const path = join(REPO_ROOT, 'docs', 'performance.md');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    text = '# Performance\n';
  }
  const a = text.indexOf(markers.begin);
  const b = text.indexOf(markers.end);
  text =
    a >= 0 && b > a ? `${text.slice(0, a + markers.begin.length)}\n${section}\n${text.slice(b)}` : `${text}\n${markers.begin}\n${section}\n${markers.end}\n`;
  writeFileSync(path, text);
  log(`written to ${path}`);
}

interface Saved {
  machine: string;
  meshcp?: string;
  command: string;
  date: string;
  durationSeconds: number;
  results: RunResult[];
}

function figuresSection(saved: Saved, jsonPath: string, servers: ServerKind[]): string {
  return [
    `Measured ${saved.date.slice(0, 10)} on ${saved.machine}.`,
    `Command: \`${saved.command}\` (took ${saved.durationSeconds} s). Raw JSON (git-ignored): \`${jsonPath.replace(`${REPO_ROOT}/`, '')}\`.`,
    ...(saved.meshcp ? ['', `${saved.meshcp}.`] : []),
    '',
    markdownTable(saved.results, servers),
    convergenceTable(saved.results, saved.meshcp),
    authTable(saved.results),
  ].join('\n');
}

async function main(): Promise<void> {
  if (process.argv.includes('--model-scale')) {
    runModelScale(
      process.argv.slice(2).filter((a) => a !== '--model-scale'),
      machine().replace('; load generator and server on the same cores', ''),
      writeDoc,
    );
    return;
  }
  if (process.argv.includes('--soak')) {
    await runSoak(process.argv.slice(2).filter((a) => a !== '--soak'));
    return;
  }
  const { values } = parseArgs({
    options: {
      compare: { type: 'boolean', default: false },
      streams: { type: 'string' },
      servers: { type: 'string' },
      mode: { type: 'string' },
      modes: { type: 'string' },
      'churn-streams': { type: 'string' },
      'churn-rate': { type: 'string', default: '50' },
      'churn-seconds': { type: 'string', default: '60' },
      'auth-streams': { type: 'string' },
      services: { type: 'string', default: '1000' },
      endpoints: { type: 'string', default: '10' },
      profile: { type: 'boolean', default: false },
      doc: { type: 'boolean', default: false },
      out: { type: 'string', default: join(REPO_ROOT, 'bench', 'results') },
      from: { type: 'string' },
      'meshcp-via': { type: 'string' },
      workers: { type: 'string' },
    },
  });
  const order: ServerKind[] = ['meshcp', 'gcp', 'floor'];
  if (values.from) {
    // Re-render the tables (and with --doc the figures section) from an earlier run's JSON.
    const saved = JSON.parse(readFileSync(values.from, 'utf8')) as Saved;
    const kinds = [...new Set(saved.results.map((r) => r.server))];
    const section = figuresSection(
      saved,
      values.from,
      order.filter((k) => kinds.includes(k)),
    );
    process.stdout.write(`${section}\n`);
    if (values.doc) writeDoc(section);
    return;
  }
  const compare = values.compare;
  const streamsList = (values.streams ?? (compare ? '1000,5000,10000' : '1000,5000')).split(',').map(Number);
  const servers = (values.servers ?? (compare ? 'meshcp,gcp,floor' : 'meshcp')).split(',') as ServerKind[];
  for (const s of servers) if (!order.includes(s)) throw new Error(`--servers: unknown server ${s} (meshcp, gcp, floor)`);
  const modes = (values.modes ?? values.mode ?? (compare ? 'sotw,delta' : 'sotw')).split(',');
  const churnStreams = Number(values['churn-streams'] ?? (compare ? '1000' : '0'));
  const authStreams = Number(values['auth-streams'] ?? (compare ? '1000' : '0'));
  const services = Number(values.services);
  const w = buildWorkload({ services, endpointsPerService: Number(values.endpoints) });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out = values.out;
  // Generated inputs (several MB) live in the cache, outside the repository and the linter's reach.
  const dir = join(BENCH_CACHE, 'workload');
  const profileDir = values.profile ? join(out, `profiles-${stamp}`) : undefined;
  log(`workload: ${services} services × ${values.endpoints} endpoints, zones ${w.zones.join(', ')}; writing ${dir}`);
  const meshFile = await prepareWorkload(dir, w, servers.includes('gcp'));
  const results: RunResult[] = [];
  const started = Date.now();
  const meshcp = await meshcpVia(values['meshcp-via'], values.workers, w);
  log(describeMeshcp(meshcp));
  const common = { meshcp, dir, meshFile, churnRate: Number(values['churn-rate']), churnSeconds: Number(values['churn-seconds']), w, services };
  for (const mode of modes) {
    for (const streams of streamsList) {
      for (const kind of servers) {
        // Churn runs in SotW only (the mode the churn figures have always been taken in).
        const churn = churnStreams > 0 && streams === churnStreams && mode === modes[0] && Number(values['churn-seconds']) > 0;
        const result = await runOne(kind, streams, {
          ...common,
          mode,
          churn,
          ...(profileDir && kind === 'meshcp' ? { profileDir: join(profileDir, `${mode}-${streams}`) } : {}),
        });
        results.push(result);
      }
    }
  }
  if (meshcp.via === 'serve' && servers.includes('meshcp')) {
    // meshcp serve's histogram starts after the file watch and debounce, the load generator's before the file is
    // written: for the check (issue 17) one run of the in-process server, where a change reaches the cache at the POST.
    const streams = authStreams > 0 ? authStreams : (streamsList[0] ?? 1000);
    const check = await runOne('meshcp', streams, { ...common, meshcp: { ...meshcp, via: 'bench' }, mode: modes[0] ?? 'sotw', churn: false });
    results.push({ ...check, checkOnly: true });
  }
  if (authStreams > 0 && servers.includes('meshcp')) {
    // The cost of authentication: the same run over TLS with a client certificate per proxy (no churn).
    const tls = await issueClientCertificate(w.namespace);
    const mode = modes[0] ?? 'sotw';
    results.push(await runOne('meshcp', authStreams, { ...common, mode, churn: false, tls }));
    if (!results.some((r) => r.server === 'meshcp' && r.streams === authStreams && r.mode === mode && r.transport === 'plaintext' && !r.checkOnly)) {
      results.push(await runOne('meshcp', authStreams, { ...common, mode, churn: false }));
    }
  }
  const extra = process.argv.slice(2).filter((a) => a !== '--compare' && a !== '--doc');
  const command = `npm run ${compare ? 'bench:compare' : 'bench'}${extra.length > 0 ? ` -- ${extra.join(' ')}` : ''}`;
  const summary = {
    machine: machine(),
    meshcp: describeMeshcp(meshcp),
    command,
    date: new Date().toISOString(),
    durationSeconds: Math.round((Date.now() - started) / 1000),
    workload: { services, endpointsPerService: Number(values.endpoints), zones: w.zones },
    results: results.map((r) => ({ ...r, figures: figures(r.report, r.streams) })),
  };
  mkdirSync(out, { recursive: true });
  const jsonPath = join(out, `bench-${stamp}.json`);
  writeFileSync(jsonPath, JSON.stringify(summary, null, 2));
  writeFileSync(join(out, 'latest.json'), JSON.stringify(summary, null, 2));
  const section = figuresSection(summary, jsonPath, servers);
  process.stdout.write(`\n${section}\n`);
  if (profileDir) process.stdout.write(`\n${summarizeProfiles(profileDir)}\n`);
  if (values.doc) writeDoc(section);
  log(`results: ${jsonPath}`);
  if (results.some((r) => r.error)) process.exitCode = 1;
}

// Only as the entry point: soak.ts imports this module's helpers.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error) => {
    process.stderr.write(`bench: ${(error as Error).stack ?? error}\n`);
    process.exit(1);
  });
}
