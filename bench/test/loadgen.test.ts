/**
 * The load generator's correctness, cheaply enough for CI: its Go self-check tests
 * (a fake server that drops pushes or sends unknown versions; a client that skips
 * or corrupts ACKs), then 20 simulated Envoys against a real meshcp server, SotW and
 * Delta, which must all sync, converge an endpoint change and pass every check.
 * The benchmarks themselves (`npm run bench`, `npm run bench:compare`) are not run here.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOOR_SERVER_JS, LOADGEN_BIN, MESHCP_SERVER_JS, REPO_ROOT, runCommand, type Server, startServer } from '../src/procs.js';
import { buildWorkload, workloadYaml } from '../src/workload.js';

const SERVICES = 20;

describe('bench load generator', () => {
  let dir: string;
  let server: Server | undefined;
  let floor: Server | undefined;

  beforeAll(async () => {
    const setup = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'bench-setup.sh'), '--go-only'], { encoding: 'utf8', timeout: 170_000 });
    if (setup.status !== 0) throw new Error(`bench-setup failed: ${setup.stderr}`);
    dir = mkdtempSync(join(tmpdir(), 'meshcp-bench-'));
    const meshFile = join(dir, 'mesh.yaml');
    writeFileSync(meshFile, workloadYaml(buildWorkload({ services: SERVICES, endpointsPerService: 4 })));
    server = await startServer('meshcp', process.execPath, [MESHCP_SERVER_JS, '--file', meshFile, '--max-duration-s', '300'], 30_000);
    floor = await startServer('floor', process.execPath, [FLOOR_SERVER_JS, '--file', meshFile, '--max-duration-s', '300'], 30_000);
  });

  afterAll(async () => {
    await server?.stop();
    await floor?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('detects a missing ACK, a wrong or unknown version and a stream that stopped receiving (go test)', () => {
    const result = spawnSync('go', ['test', '-count=1', './loadgen'], {
      cwd: join(REPO_ROOT, 'bench'),
      encoding: 'utf8',
      timeout: 170_000,
      env: { ...process.env, GOFLAGS: '-mod=mod' },
    });
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
  }, 180_000);

  for (const mode of ['sotw', 'delta'] as const) {
    it(`20 ${mode} streams against meshcp: full sync, a change converges, every self-check passes`, async () => {
      const s = server as Server;
      const out = await runCommand(
        LOADGEN_BIN,
        [
          `-target=127.0.0.1:${s.xdsPort}`,
          `-control=http://127.0.0.1:${s.controlPort}`,
          '-streams=20',
          `-mode=${mode}`,
          `-expect-clusters=${SERVICES}`,
          `-services=${SERVICES}`,
          '-endpoints=4',
          '-changes=2',
          `-change-port-base=${mode === 'sotw' ? 20000 : 40000}`,
          '-quiet=200ms',
          '-sync-timeout=30s',
          '-change-timeout=10s',
          '-max-duration=60s',
          `-server-pid=${s.pid}`,
        ],
        90_000,
      );
      const report = JSON.parse(out.stdout) as {
        sync: { synced: number };
        change: { convergedStreamChanges: number; expectedStreamChanges: number };
        checks: { ok: boolean; errors: string[] };
        server: Record<string, { rssKB: number; cpuSeconds: number }>;
      };
      expect(report.checks.errors).toEqual([]);
      expect(report.checks.ok).toBe(true);
      expect(report.sync.synced).toBe(20);
      expect(report.change.convergedStreamChanges).toBe(40);
      expect(report.server.synced?.rssKB).toBeGreaterThan(0);
      expect(out.code).toBe(0);
    }, 120_000);
  }

  const baseArgs = (s: Server, mode: string, portBase: number) => [
    `-target=127.0.0.1:${s.xdsPort}`,
    `-control=http://127.0.0.1:${s.controlPort}`,
    '-streams=20',
    `-mode=${mode}`,
    `-expect-clusters=${SERVICES}`,
    `-services=${SERVICES}`,
    '-endpoints=4',
    `-change-port-base=${portBase}`,
    '-quiet=200ms',
    '-sync-timeout=30s',
    '-change-timeout=10s',
    '-max-duration=60s',
    `-server-pid=${s.pid}`,
  ];
  interface Report {
    sync: { synced: number };
    change?: { convergedStreamChanges: number; expectedStreamChanges: number };
    churn?: { changes: number; convergedStreamChanges: number; expectedStreamChanges: number };
    checks: { ok: boolean; errors: string[] };
    reconnects: number;
    resyncMs: { n: number };
    samples?: { rssKB: number }[];
  }

  for (const mode of ['sotw', 'delta'] as const) {
    it(`the physical floor (bare grpc-js, pre-encoded bytes): 20 ${mode} streams sync, a change converges, every self-check passes`, async () => {
      const out = await runCommand(LOADGEN_BIN, [...baseArgs(floor as Server, mode, mode === 'sotw' ? 20000 : 40000), '-changes=2'], 90_000);
      const report = JSON.parse(out.stdout) as Report;
      expect(report.checks.errors).toEqual([]);
      expect(report.sync.synced).toBe(20);
      expect(report.change?.convergedStreamChanges).toBe(40);
      expect(out.code).toBe(0);
    }, 120_000);
  }

  it('soak: streams dropped and reconnected during churn all resync, and none misses a change', async () => {
    const out = await runCommand(
      LOADGEN_BIN,
      [...baseArgs(server as Server, 'sotw', 50000), '-changes=0', '-churn-rate=10', '-churn-seconds=5', '-reconnect-rate=0.1', '-sample-every=1s'],
      90_000,
    );
    const report = JSON.parse(out.stdout) as Report;
    expect(report.checks.errors).toEqual([]);
    // 2 streams a second for the first 4.5 s: the changes made while a stream was away reach it on resync.
    expect(report.reconnects).toBeGreaterThanOrEqual(4);
    expect(report.resyncMs.n).toBe(report.reconnects);
    expect(report.churn?.changes).toBeGreaterThan(20);
    expect(report.churn?.convergedStreamChanges).toBe(report.churn?.expectedStreamChanges);
    expect(report.samples?.length).toBeGreaterThanOrEqual(4);
    expect(out.code).toBe(0);
  }, 120_000);
});
