/**
 * The client axis of the matrix with real proxyless gRPC clients: every client
 * version in grpc-clients.json × every client scenario must pass; the report
 * carries both axes; and a planted regression (locality weights removed for one
 * client kind) fails exactly that kind's cells, with the client's own error text.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResourceHook } from 'meshcp';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ClientAxisReport, ClientTarget } from '../src/clients/index.js';

const REPO = join(import.meta.dirname, '..', '..');
const OUT = join(REPO, '.test-output', 'compat-matrix', 'clients');

/** Strips load_balancing_weight from every EDS locality sent to one client kind: gRFC A27 says that client then drops every locality. */
function withoutLocalityWeights(clientKind: string): ResourceHook {
  return (typeUrl, list, view) =>
    typeUrl.endsWith('ClusterLoadAssignment') && view.info.clientKind === clientKind
      ? list.map((cla) => {
          const copy = structuredClone(cla) as { endpoints?: { load_balancing_weight?: number }[] };
          for (const locality of copy.endpoints ?? []) delete locality.load_balancing_weight;
          return copy;
        })
      : list;
}

describe('compat matrix: proxyless gRPC clients (every listed version × every client scenario)', () => {
  let lib: typeof import('../src/index.js');
  let report: ClientAxisReport;

  beforeAll(async () => {
    process.env.MESHCP_LOG_LEVEL ??= 'error';
    lib = await import('../src/index.js');
    report = await lib.runClientAxis(lib.defaultClients(), {
      outDir: OUT,
      onCell: (c) => process.stderr.write(`${c.status} ${c.scenario} × ${c.target} ${(c.durationMs / 1000).toFixed(1)}s ${c.reason?.split('\n')[0] ?? ''}\n`),
    });
    const summary = { passed: report.cells.filter((c) => c.status === 'pass').length, failed: report.cells.filter((c) => c.status === 'fail').length };
    lib.writeReport(OUT, {
      tool: 'meshcp compat run',
      runId: 'clients-test',
      runtime: 'process',
      startedAt: new Date().toISOString(),
      finishedAt: new Date().toISOString(),
      durationMs: report.durationMs,
      concurrency: 2,
      targets: [],
      scenarios: [],
      cells: [],
      summary: { ...summary, skipped: 0, total: report.cells.length },
      clients: report,
    });
    process.stderr.write(`client axis: ${JSON.stringify(summary)} in ${(report.durationMs / 1000).toFixed(1)}s → ${OUT}/report.md\n`);
  }, 30 * 60_000);

  it('lists at least 3 grpc-go versions across a row boundary, 2 grpc-java, 2 grpcio and 2 grpc-js-xds', () => {
    const byImpl = (impl: string) => lib.defaultClients().filter((c) => c.implementation === impl);
    expect(byImpl('grpc-go').length).toBeGreaterThanOrEqual(3);
    expect(byImpl('grpc-java').length).toBeGreaterThanOrEqual(2);
    expect(byImpl('grpcio').length).toBeGreaterThanOrEqual(2);
    expect(byImpl('grpc-js-xds').length).toBeGreaterThanOrEqual(2);
    // The retry row (A44) is proven on both sides: one listed grpc-go version lacks it, one has it.
    const retry = byImpl('grpc-go').map((t) => lib.expectedProfile(t).features.has('route.retryPolicy'));
    expect(retry).toContain(true);
    expect(retry).toContain(false);
  });

  it('every client version passes every client scenario', () => {
    expect(report.cells).toHaveLength(lib.defaultClients().length * lib.CLIENT_SCENARIOS.length);
    const failed = report.cells.filter((c) => c.status !== 'pass').map((c) => `${c.scenario} × ${c.target}: ${c.reason}\n  ${c.clientErrors.join('\n  ')}`);
    expect(failed, failed.join('\n')).toEqual([]);
  });

  it("records each client's own NACK text and what each version lacks", () => {
    for (const target of report.targets) {
      const nack = report.cells.find((c) => c.target === target.label && c.scenario === 'grpc-nack');
      expect(String(nack?.notes.nack), target.label).toMatch(/MAGLEV|lb.?policy|LB policy|Cluster message validation failed/i);
    }
    const go140 = report.targets.find((t) => t.label === 'grpc-go@1.40.0');
    expect(go140?.lacks).toEqual(expect.arrayContaining(['route.retryPolicy', 'cluster.ringHash', 'cluster.outlierDetection']));
    const md = readFileSync(join(OUT, 'report.md'), 'utf8');
    expect(md).toContain('## Proxyless gRPC clients');
    for (const target of report.targets) expect(md).toContain(`| ${target.label} |`);
  });
});

describe('compat matrix: a planted client regression', () => {
  let lib: typeof import('../src/index.js');
  beforeAll(async () => {
    process.env.MESHCP_LOG_LEVEL ??= 'error';
    lib = await import('../src/index.js');
  });

  it(
    'a planted regression (no locality weights for grpc-go) fails exactly the grpc-go cells, with grpc-go’s own error text',
    async () => {
      const newest = new Map<string, ClientTarget>();
      for (const target of lib.defaultClients()) newest.set(target.implementation, target);
      const targets = [...newest.values()];
      const planted = await lib.runClientAxis(targets, {
        outDir: join(OUT, '..', 'clients-planted'),
        scenarios: ['grpc-resolve-connect'],
        faults: ({ target }) =>
          target.implementation === 'grpc-go'
            ? { note: 'load_balancing_weight removed from EDS for grpc-go', resourceHook: withoutLocalityWeights('grpc-go') }
            : undefined,
        onCell: () => undefined,
      });
      const failed = planted.cells.filter((c) => c.status === 'fail').map((c) => c.target);
      expect(failed).toEqual(targets.filter((t) => t.implementation === 'grpc-go').map((t) => t.label));
      const go = planted.cells.find((c) => c.status === 'fail');
      // grpc-go's own words for a cluster whose localities it dropped, and meshcp refusing to call it SYNCED.
      expect(go?.reason).toMatch(/UNAVAILABLE: .*(no targets to pick from|no children|produced zero addresses|no usable)/i);
      expect(go?.reason).toContain('EDS NO_ENDPOINTS');
      // The report shows that cell failing with the client's own words.
      const dir = join(OUT, '..', 'clients-planted');
      lib.writeReport(dir, {
        tool: 'meshcp compat run',
        runId: 'clients-planted',
        runtime: 'process',
        startedAt: new Date().toISOString(),
        finishedAt: new Date().toISOString(),
        durationMs: planted.durationMs,
        concurrency: 2,
        targets: [],
        scenarios: [],
        cells: [],
        summary: { passed: planted.cells.length - failed.length, failed: failed.length, skipped: 0, total: planted.cells.length },
        clients: planted,
      });
      const md = readFileSync(join(dir, 'report.md'), 'utf8');
      expect(md).toMatch(/\*\*grpc-resolve-connect × grpc-go@[\d.]+\*\*: no RPC succeeded .*UNAVAILABLE: /);
      expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('✗ grpc-resolve-connect × grpc-go@');
    },
    5 * 60_000,
  );
});
