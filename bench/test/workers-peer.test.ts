/**
 * `--meshcp-via workers`: the bench's meshcp process is the node:cluster primary of the
 * production XdsWorkerPool and its workers are forked processes. The load generator's
 * self-checks must hold across workers — versions are the primary's content hashes, so a
 * stream never sees a version it cannot place, whichever worker serves it; no change is
 * missed under churn — and the server figures must cover the workers (the process tree).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOADGEN_BIN, REPO_ROOT, runCommand, type Server, startServer } from '../src/procs.js';
import { buildWorkload, workloadYaml } from '../src/workload.js';

const SERVICES = 20;
const STREAMS = 20;
const WORKERS_PEER_JS = join(REPO_ROOT, 'bench', 'dist', 'workers-peer.js');

/** The pids whose parent is `pid` (/proc/PID/task/TID/children). */
function children(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(/\s+/).map(Number);
}

interface Report {
  sync: { synced: number };
  change?: { convergedStreamChanges: number; expectedStreamChanges: number };
  churn?: { changes: number; convergedStreamChanges: number; expectedStreamChanges: number };
  checks: { ok: boolean; errors: string[] };
  server: Record<string, { cpuSeconds: number; rssKB: number }>;
}

describe('bench: meshcp served by the production worker pool (--meshcp-via workers)', () => {
  let dir: string;
  let server: Server | undefined;

  beforeAll(async () => {
    const setup = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'bench-setup.sh'), '--go-only'], { encoding: 'utf8', timeout: 170_000 });
    if (setup.status !== 0) throw new Error(`bench-setup failed: ${setup.stderr}`);
    dir = mkdtempSync(join(tmpdir(), 'meshcp-bench-workers-'));
    const meshFile = join(dir, 'mesh.yaml');
    writeFileSync(meshFile, workloadYaml(buildWorkload({ services: SERVICES, endpointsPerService: 4 })));
    server = await startServer('meshcp workers', process.execPath, [WORKERS_PEER_JS, '--file', meshFile, '--workers', '2', '--max-duration-s', '300'], 60_000);
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('forks two worker processes under the primary (the tree the load generator sums)', () => {
    expect(children((server as Server).pid)).toHaveLength(2);
  });

  for (const mode of ['sotw', 'delta'] as const) {
    it(`${STREAMS} ${mode} streams: full sync, changes and churn converge on every stream, every self-check passes`, async () => {
      const s = server as Server;
      const out = await runCommand(
        LOADGEN_BIN,
        [
          `-target=127.0.0.1:${s.xdsPort}`,
          `-control=http://127.0.0.1:${s.controlPort}`,
          `-streams=${STREAMS}`,
          `-mode=${mode}`,
          `-expect-clusters=${SERVICES}`,
          `-services=${SERVICES}`,
          '-endpoints=4',
          `-change-port-base=${mode === 'sotw' ? 20000 : 40000}`,
          '-changes=2',
          '-churn-rate=20',
          '-churn-seconds=3',
          '-quiet=200ms',
          '-sync-timeout=30s',
          '-change-timeout=10s',
          '-max-duration=60s',
          `-server-pid=${s.pid}`,
        ],
        90_000,
      );
      const report = JSON.parse(out.stdout) as Report;
      // Among the checks: no response at a version the load generator cannot place, no missed update.
      expect(report.checks.errors).toEqual([]);
      expect(report.checks.ok).toBe(true);
      expect(report.sync.synced).toBe(STREAMS);
      expect(report.change?.convergedStreamChanges).toBe(2 * STREAMS);
      expect(report.churn?.changes).toBeGreaterThan(30);
      expect(report.churn?.convergedStreamChanges).toBe(report.churn?.expectedStreamChanges);
      expect(out.code).toBe(0);
    }, 120_000);
  }

  it('the control port serves the workers’ metrics, summed: every stream counted once', async () => {
    const s = server as Server;
    // The loadgen runs above closed their streams; open ones now are none, but the counters add up over both workers.
    const text = await (await fetch(`http://127.0.0.1:${s.controlPort}/metrics`)).text();
    const acks = [...text.matchAll(/^meshcp_xds_acks_total\{type="CDS"\} (\d+)/gm)].map((m) => Number(m[1]));
    expect(acks).toHaveLength(1);
    // Two runs of 20 streams, each ACKing its first CDS response at least.
    expect(acks[0]).toBeGreaterThanOrEqual(2 * STREAMS);
    expect(text).toMatch(/^meshcp_proxy_convergence_seconds_count\{type="EDS"\} [1-9]/m);
  });
});
