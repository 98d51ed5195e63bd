/**
 * The soak (`npm run bench:soak`): N proxies synced, then endpoint changes offered
 * at a steady rate for a long time while a fraction of the proxies drops its
 * connection and reconnects every second. The load generator's self-checks (no
 * missed update, no unknown version, no stalled stream, every reconnected stream
 * synced again) must hold over the whole run; the server's RSS and CPU are sampled
 * every 10 s, plotted into a PNG drawn here, and the RSS growth after warm-up is
 * the figure (goal: ≤ 5 %).
 *
 *   node bench/dist/run.js --soak [--streams 5000] [--churn-rate 50] [--seconds 600] [--reconnect 0.01]
 *        [--sample-every 10] [--warmup-seconds 120] [--servers meshcp] [--services 1000] [--doc]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Panel, plotPng, type Series } from './plot.js';
import { BENCH_CACHE, LOADGEN_BIN, REPO_ROOT, runCommand } from './procs.js';
import { describeMeshcp, type LoadgenReport, log, machine, meshcpVia, prepareWorkload, startPeer, writeDoc } from './run.js';
import { buildWorkload } from './workload.js';

export const SOAK_MARKERS = { begin: '<!-- bench:soak:begin -->', end: '<!-- bench:soak:end -->' };
const GROWTH_GOAL = 0.05;

type Sample = NonNullable<LoadgenReport['samples']>[number];

/** V8 heap used and external memory of the meshcp server (its /metrics), to tell a JavaScript heap that grows from RSS that does. */
export interface HeapSample {
  atUnixMs: number;
  heapUsedMB: number;
  externalMB: number;
}

function gauge(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([0-9.eE+-]+)`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Scrapes the server's metrics every `everyMs` until stopped. */
function sampleHeap(controlPort: number, everyMs: number): { stop: () => HeapSample[] } {
  const samples: HeapSample[] = [];
  const timer = setInterval(() => {
    fetch(`http://127.0.0.1:${controlPort}/metrics`)
      .then((r) => r.text())
      .then((text) => {
        const heap = gauge(text, 'nodejs_heap_size_used_bytes');
        const external = gauge(text, 'nodejs_external_memory_bytes');
        if (heap !== undefined) samples.push({ atUnixMs: Date.now(), heapUsedMB: heap / 2 ** 20, externalMB: (external ?? 0) / 2 ** 20 });
      })
      .catch(() => {
        // a busy server may miss one; the plot shows the gap
      });
  }, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      return samples;
    },
  };
}

export interface SoakFigures {
  /** Start and end of the churn phase, and the end of warm-up, in seconds since the first connection. */
  churnStartS: number;
  churnEndS: number;
  warmupEndS: number;
  /** Mean RSS (MB) of the samples in the first 30 s after warm-up, and of the last three of the churn. */
  rssAfterWarmupMB?: number;
  rssEndMB?: number;
  /** rssEnd ÷ rssAfterWarmup − 1. */
  rssGrowth?: number;
  /** Highest RSS after warm-up ÷ rssAfterWarmup − 1. */
  rssPeakGrowth?: number;
  /** Mean server CPU during the churn, in % of one core. */
  cpuPercentMean?: number;
}

const mean = (xs: number[]) => (xs.length === 0 ? undefined : xs.reduce((a, b) => a + b, 0) / xs.length);

/** The growth figures from the samples (pure: tested). */
export function soakFigures(samples: readonly Sample[], churnStartS: number, churnEndS: number, warmupS: number): SoakFigures {
  const warmupEndS = Math.min(churnStartS + warmupS, churnEndS);
  const inChurn = samples.filter((s) => s.atMs / 1000 >= churnStartS && s.atMs / 1000 <= churnEndS);
  const afterWarmup = inChurn.filter((s) => s.atMs / 1000 >= warmupEndS);
  const base = mean(afterWarmup.filter((s) => s.atMs / 1000 < warmupEndS + 30).map((s) => s.rssKB / 1024));
  const end = mean(afterWarmup.slice(-3).map((s) => s.rssKB / 1024));
  const peak = afterWarmup.length > 0 ? Math.max(...afterWarmup.map((s) => s.rssKB / 1024)) : undefined;
  const first = inChurn[0];
  const last = inChurn.at(-1);
  const cpu = first && last && last.atMs > first.atMs ? ((last.cpuSeconds - first.cpuSeconds) / ((last.atMs - first.atMs) / 1000)) * 100 : undefined;
  return {
    churnStartS,
    churnEndS,
    warmupEndS,
    ...(base !== undefined ? { rssAfterWarmupMB: base } : {}),
    ...(end !== undefined ? { rssEndMB: end } : {}),
    ...(base && end !== undefined ? { rssGrowth: end / base - 1 } : {}),
    ...(base && peak !== undefined ? { rssPeakGrowth: peak / base - 1 } : {}),
    ...(cpu !== undefined ? { cpuPercentMean: cpu } : {}),
  };
}

function plot(
  samples: readonly Sample[],
  f: SoakFigures,
  title: string,
  sampleEveryS: string,
  heap: { atMs: number; heapUsedMB: number; externalMB: number }[] = [],
): Buffer {
  const minutes = (s: Sample) => s.atMs / 60_000;
  const rss: Series = { label: 'RSS', color: [31, 119, 180], points: samples.map((s) => ({ x: minutes(s), y: s.rssKB / 1024 })) };
  const heapSeries: Series = {
    label: 'V8 heap used',
    color: [44, 160, 44],
    points: heap.filter((h) => h.atMs >= 0).map((h) => ({ x: h.atMs / 60_000, y: h.heapUsedMB })),
  };
  const cpuPoints: { x: number; y: number }[] = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1] as Sample;
    const b = samples[i] as Sample;
    const dt = (b.atMs - a.atMs) / 1000;
    if (dt > 0) cpuPoints.push({ x: minutes(b), y: ((b.cpuSeconds - a.cpuSeconds) / dt) * 100 });
  }
  const marker = { x: f.warmupEndS / 60, label: 'end of warm-up' };
  const panels: Panel[] = [
    {
      title: `${title}: server RSS (MB); band = warm-up level + 5 %`,
      series:
        heapSeries.points.length > 0
          ? [
              rss,
              heapSeries,
              {
                label: 'external (Buffers)',
                color: [255, 127, 14],
                points: heap.filter((h) => h.atMs >= 0).map((h) => ({ x: h.atMs / 60_000, y: h.externalMB })),
              },
            ]
          : [rss],
      marker,
      ...(f.rssAfterWarmupMB
        ? { band: { y0: f.rssAfterWarmupMB, y1: f.rssAfterWarmupMB * (1 + GROWTH_GOAL), color: [226, 242, 226] as [number, number, number] } }
        : {}),
    },
    { title: `server CPU (% of one core, per ${sampleEveryS} s sample)`, series: [{ label: 'CPU', color: [214, 39, 40], points: cpuPoints }], marker },
  ];
  return plotPng(panels, 'minutes since the first connection');
}

export async function runSoak(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      streams: { type: 'string', default: '5000' },
      'churn-rate': { type: 'string', default: '50' },
      seconds: { type: 'string', default: '600' },
      reconnect: { type: 'string', default: '0.01' },
      'sample-every': { type: 'string', default: '10' },
      'warmup-seconds': { type: 'string' },
      servers: { type: 'string', default: 'meshcp' },
      services: { type: 'string', default: '1000' },
      endpoints: { type: 'string', default: '10' },
      mode: { type: 'string', default: 'sotw' },
      doc: { type: 'boolean', default: false },
      out: { type: 'string', default: join(REPO_ROOT, 'bench', 'results') },
      'meshcp-via': { type: 'string' },
      workers: { type: 'string' },
    },
  });
  const streams = Number(values.streams);
  const seconds = Number(values.seconds);
  const warmupS = Number(values['warmup-seconds'] ?? Math.min(120, Math.round(seconds / 5)));
  const services = Number(values.services);
  const w = buildWorkload({ services, endpointsPerService: Number(values.endpoints) });
  const dir = join(BENCH_CACHE, 'workload');
  log(
    `soak: ${streams} ${values.mode} streams, ${values['churn-rate']} changes/s for ${seconds} s, ${Number(values.reconnect) * 100} % reconnecting per second`,
  );
  const meshFile = await prepareWorkload(dir, w, values.servers.split(',').includes('gcp'));
  const meshcp = await meshcpVia(values['meshcp-via'], values.workers, w);
  log(describeMeshcp(meshcp));
  const started = Date.now();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  mkdirSync(values.out, { recursive: true });
  const sections: string[] = [];
  const runs: unknown[] = [];
  let failed = false;
  for (const kind of values.servers.split(',') as ('meshcp' | 'gcp' | 'floor')[]) {
    const server = await startPeer(kind, dir, meshFile, undefined, undefined, meshcp);
    let report: LoadgenReport | undefined;
    let error: string | undefined;
    const heapSampler = kind === 'meshcp' ? sampleHeap(server.controlPort, Number(values['sample-every']) * 1000) : undefined;
    let heapSamples: HeapSample[] = [];
    try {
      const args = [
        `-target=127.0.0.1:${server.xdsPort}`,
        `-control=http://127.0.0.1:${server.controlPort}`,
        `-streams=${streams}`,
        `-mode=${values.mode}`,
        `-zones=${w.zones.join(',')}`,
        `-namespace=${w.namespace}`,
        `-expect-clusters=${services}`,
        `-services=${services}`,
        `-endpoints=${values.endpoints}`,
        `-server-pid=${server.pid}`,
        '-changes=0',
        `-churn-rate=${values['churn-rate']}`,
        `-churn-seconds=${seconds}`,
        `-reconnect-rate=${values.reconnect}`,
        `-sample-every=${values['sample-every']}s`,
        '-sync-timeout=10m',
        '-change-timeout=3m',
        `-max-duration=${Math.ceil(seconds / 60) + 20}m`,
      ];
      const out = await runCommand(LOADGEN_BIN, args, (seconds + 21 * 60) * 1000, (text) => process.stderr.write(text));
      try {
        report = JSON.parse(out.stdout) as LoadgenReport;
      } catch {
        // no report: the error says why
      }
      if (out.code !== 0) error = `loadgen exited ${out.code}: ${(report?.checks.errors ?? []).slice(0, 5).join('; ') || out.stderr.slice(-1500)}`;
    } finally {
      heapSamples = heapSampler?.stop() ?? [];
      await server.stop();
    }
    if (error) {
      failed = true;
      log(error);
    }
    const label = kind === 'meshcp' ? 'meshcp' : kind === 'gcp' ? 'go-control-plane' : 'floor';
    if (!report?.samples || report.startedAtUnixNano === undefined) {
      sections.push(`#### ${label}`, '', `> no report: ${error ?? 'unknown error'}`, '');
      continue;
    }
    const at = (phase: string) => ((report.server[phase]?.atUnixNano ?? 0) - (report.startedAtUnixNano ?? 0)) / 1e9;
    // The churn starts once the initial sync is quiet (≤ 1 s after "synced") and ends at "churned".
    const f = soakFigures(report.samples, at('synced'), at('churned'), warmupS);
    const startedMs = (report.startedAtUnixNano ?? 0) / 1e6;
    const heap = heapSamples.map((h) => ({ atMs: h.atUnixMs - startedMs, heapUsedMB: h.heapUsedMB, externalMB: h.externalMB }));
    // The same growth figure for the V8 heap (sampled when scraped, so between collections: noisier than RSS).
    const heapFigures =
      heap.length > 0
        ? soakFigures(
            heap.map((h) => ({ atMs: h.atMs, rssKB: h.heapUsedMB * 1024, cpuSeconds: 0, streams: 0, reconnects: 0 })),
            at('synced'),
            at('churned'),
            warmupS,
          )
        : undefined;
    // The plot goes next to docs/performance.md only when the doc is rewritten; else next to the JSON.
    const png = `performance-soak-${kind}.png`;
    writeFileSync(
      join(values.doc ? join(REPO_ROOT, 'docs') : values.out, png),
      plot(report.samples, f, `${label}, ${streams.toLocaleString('en-US')} proxies`, values['sample-every'], heap),
    );
    const c = report.checks as LoadgenReport['checks'] & Record<string, number>;
    const churn = report.churn;
    const pct = (x: number | undefined) => (x === undefined ? '—' : `${(x * 100).toFixed(1)} %`);
    const num = (x: number | undefined, d = 1) => (x === undefined ? '—' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
    sections.push(
      `#### ${label}`,
      '',
      `![${label} soak: RSS and CPU over time](${png})`,
      '',
      '| figure | value |',
      '| --- | ---: |',
      `| streams synced / offered | ${report.sync.synced.toLocaleString('en-US')} / ${streams.toLocaleString('en-US')} |`,
      `| initial sync (ms, last stream) | ${num(report.sync.timeToFullSyncMs, 0)} |`,
      `| churn: changes applied, per second achieved | ${(churn?.changes ?? 0).toLocaleString('en-US')}, ${num(churn?.achievedRate)} |`,
      `| churn: change → last ACK p50 / p99 (ms) | ${num(churn?.perChangeMs.p50)} / ${num(churn?.perChangeMs.p99)} |`,
      `| churn: change → ACK per stream × change p50 / p99 (ms${(churn?.perStreamMs.n ?? 0) > 5e6 ? ', 1 ms buckets' : ''}) | ${num(churn?.perStreamMs.p50)} / ${num(churn?.perStreamMs.p99)} |`,
      `| stream × change pairs converged / expected | ${(churn?.convergedStreamChanges ?? 0).toLocaleString('en-US')} / ${(churn?.expectedStreamChanges ?? 0).toLocaleString('en-US')} |`,
      `| reconnects; resync after a reconnect p50 / p99 (ms) | ${(report.reconnects ?? 0).toLocaleString('en-US')}; ${num(report.resyncMs?.p50)} / ${num(report.resyncMs?.p99)} |`,
      `| RSS after warm-up (MB, first 30 s after ${Math.round(f.warmupEndS)} s) | ${num(f.rssAfterWarmupMB, 0)} |`,
      `| RSS at the end of the churn (MB, last 3 samples) | ${num(f.rssEndMB, 0)} |`,
      `| **RSS growth after warm-up** (goal ≤ 5 %) | **${pct(f.rssGrowth)}** ${f.rssGrowth !== undefined ? (f.rssGrowth <= GROWTH_GOAL ? '✓' : '✗') : ''} |`,
      `| highest RSS after warm-up vs warm-up level | ${pct(f.rssPeakGrowth)} |`,
      ...(heapFigures
        ? [
            `| V8 heap used after warm-up → end of the churn (MB, scraped from /metrics) | ${num(heapFigures.rssAfterWarmupMB, 0)} → ${num(heapFigures.rssEndMB, 0)} (${pct(heapFigures.rssGrowth)}) |`,
            `| external memory (Buffers) at the end of the churn (MB, mean of the last 3 scrapes) | ${num(mean(heap.slice(-3).map((h) => h.externalMB)), 0)} |`,
          ]
        : []),
      `| server CPU during the churn (% of one core) | ${num(f.cpuPercentMean, 0)} |`,
      `| self-checks: missing ACK, wrong version, unknown version, divergent, stalled, ended, incomplete, not resynced | ${['missingAck', 'wrongVersion', 'unknownVersion', 'divergentContent', 'stalled', 'ended', 'incomplete', 'notResynced'].map((k) => c[k] ?? 0).join(', ')} → ${report.checks.ok ? '**all held**' : '**FAILED**'} |`,
      '',
    );
    if (!report.checks.ok) sections.push(`> ${report.checks.errors.slice(0, 3).join('; ')}`, '');
    runs.push({ server: kind, figures: f, heapFigures, heap, report: { ...report, streams: undefined } });
  }
  const durationSeconds = Math.round((Date.now() - started) / 1000);
  const extra = argv.filter((a) => a !== '--doc');
  const command = `npm run bench:soak${extra.length > 0 ? ` -- ${extra.join(' ')}` : ''}`;
  const jsonPath = join(values.out, `soak-${stamp}.json`);
  writeFileSync(jsonPath, JSON.stringify({ machine: machine(), command, date: new Date().toISOString(), durationSeconds, runs }, null, 2));
  const section = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}.`,
    `${describeMeshcp(meshcp)}.`,
    '',
    `Command: \`${command}\` (took ${durationSeconds} s): ${streams.toLocaleString('en-US')} ${values.mode} proxies, ${values['churn-rate']} endpoint changes/s offered for ${seconds} s, ${(Number(values.reconnect) * 100).toFixed(1)} % of the proxies reconnecting every second, server sampled every ${values['sample-every']} s. Raw JSON (git-ignored): \`${jsonPath.replace(`${REPO_ROOT}/`, '')}\`.`,
    '',
    ...sections,
  ].join('\n');
  process.stdout.write(`\n${section}\n`);
  if (values.doc) writeDoc(section, SOAK_MARKERS);
  if (failed) process.exitCode = 1;
}
