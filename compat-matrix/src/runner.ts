/**
 * The matrix runner: targets (Envoy versions or images) × scenarios, each cell
 * isolated, a few at a time, each under a deadline. Whatever happens, what a cell
 * started is stopped before the cell is reported, and the run ends with a sweep
 * of anything carrying its label.
 */
import { randomBytes } from 'node:crypto';
import { join, relative } from 'node:path';
import { Cell, type CellFault, RUN_LABEL } from './cell.js';
import { type CellResult, type MatrixReport, type TargetResult, writeReport } from './report.js';
import { createRuntime } from './runtime/index.js';
import type { EnvoyRuntime, EnvoyTarget, Provisioned, RuntimeName } from './runtime/types.js';
import { CellFailure, type Scenario } from './scenario.js';
import { loadScenarios } from './scenarios/index.js';
import { AbortedError } from './support/wait.js';
import { isVersion } from './versions.js';

const DEFAULT_CELL_TIMEOUT_MS = 120_000;

export interface MatrixOptions {
  targets: EnvoyTarget[];
  runtime: RuntimeName | EnvoyRuntime;
  outDir: string;
  /** Scenario ids to run (default: all). */
  scenarios?: string[];
  /** Cells at a time (default 2: two cores). */
  concurrency?: number;
  /** Deadline per cell; default: the scenario's own, else 120 s. */
  cellTimeoutMs?: number;
  /** How long Envoy gets to open its xDS stream (default 30 s). */
  connectTimeoutMs?: number;
  /** Plants a fault in chosen cells (tests only). */
  faults?: (cell: { target: EnvoyTarget; scenario: string }) => CellFault | undefined;
  /** Aborting ends every running cell (with cleanup) and starts no more. */
  signal?: AbortSignal;
  /** Progress, one call per finished cell. */
  onCell?: (result: CellResult) => void;
}

/** `1.40.0` → a release target; anything else is an image ref. */
export function targetsFrom(envoy: string[], images: string[] = []): EnvoyTarget[] {
  const targets: EnvoyTarget[] = [];
  for (const raw of envoy) {
    const version = raw.replace(/^v/, '');
    if (!isVersion(version)) throw new Error(`--envoy takes X.Y.Z versions, got ${JSON.stringify(raw)} (use --image for an image ref)`);
    targets.push({ label: version, version });
  }
  for (const image of images) targets.push({ label: image, image });
  const labels = targets.map((t) => t.label);
  const dup = labels.find((l, i) => labels.indexOf(l) !== i);
  if (dup) throw new Error(`target ${dup} given twice`);
  return targets;
}

function safe(label: string): string {
  return label.replace(/[^A-Za-z0-9._-]+/g, '_');
}

export async function runMatrix(options: MatrixOptions): Promise<MatrixReport> {
  const started = Date.now();
  const runId = `${started.toString(36)}${randomBytes(2).toString('hex')}`;
  const runtime = typeof options.runtime === 'string' ? createRuntime(options.runtime) : options.runtime;
  const scenarios = await loadScenarios(options.scenarios);
  const concurrency = Math.max(1, options.concurrency ?? 2);
  const connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
  const cleanup: NonNullable<MatrixReport['cleanup']> = { orphansRemoved: [], leftovers: [], errors: [] };
  // What runs that died (killed, crashed) left behind goes first: it holds ports and memory.
  cleanup.orphansRemoved = await (runtime.sweepOrphans?.() ?? Promise.resolve([])).catch((error: Error) => {
    cleanup.errors.push(`removing containers of dead runs failed: ${error.message}`);
    return [];
  });

  // Provisioning happens once per target, on first need, so cells of a ready
  // target run while the next one downloads or builds.
  const targetResults = new Map<string, TargetResult>();
  const provisioning = new Map<string, Promise<Provisioned>>();
  const provision = (target: EnvoyTarget): Promise<Provisioned> => {
    let pending = provisioning.get(target.label);
    if (!pending) {
      const t0 = Date.now();
      const result: TargetResult = {
        label: target.label,
        provisionMs: 0,
        ...(target.version ? { version: target.version } : {}),
        ...(target.image ? { image: target.image } : {}),
      };
      targetResults.set(target.label, result);
      pending = runtime.provision(target).then(
        (p) => {
          result.provisionMs = Date.now() - t0;
          result.provisioned = p.detail;
          if (p.envoyVersion) {
            result.version = p.envoyVersion.effective;
            result.binaryVersion = p.envoyVersion.reported;
            if (p.envoyVersion.note) result.versionNote = p.envoyVersion.note;
          }
          return p;
        },
        (error: Error) => {
          result.provisionMs = Date.now() - t0;
          result.provisionError = error.message;
          throw error;
        },
      );
      provisioning.set(target.label, pending);
    }
    return pending;
  };

  const queue: { target: EnvoyTarget; scenario: Scenario }[] = [];
  // Scenario-major order spreads each target's cells over the run.
  for (const scenario of scenarios) for (const target of options.targets) queue.push({ target, scenario });
  const cells: CellResult[] = [];

  const runCell = async (target: EnvoyTarget, scenario: Scenario): Promise<CellResult> => {
    const t0 = Date.now();
    const dir = join(options.outDir, 'logs', safe(target.label), scenario.id);
    const rel = (file: string) => relative(options.outDir, join(dir, file));
    const base = { target: target.label, scenario: scenario.id, envoyErrors: [] as string[], notes: {} as Record<string, string | number> };
    if (options.signal?.aborted) return { ...base, status: 'fail', durationMs: 0, phase: 'timeout', reason: 'run aborted before this cell started', logs: {} };
    const skip = scenario.skip?.(target.version);
    if (skip) return { ...base, ...(target.version ? { version: target.version } : {}), status: 'skip', durationMs: 0, reason: skip, logs: {} };
    let provisioned: Provisioned;
    try {
      provisioned = await provision(target);
    } catch (error) {
      return {
        ...base,
        status: 'fail',
        durationMs: Date.now() - t0,
        phase: 'provision',
        reason: `could not provision Envoy ${target.label}: ${(error as Error).message}`,
        logs: {},
      };
    }
    // An image's version is known once its binary has been asked.
    const imageSkip = target.version ? undefined : scenario.skip?.(provisioned.envoyVersion?.effective);
    if (imageSkip) return { ...base, version: provisioned.envoyVersion?.effective as string, status: 'skip', durationMs: 0, reason: imageSkip, logs: {} };
    const timeoutMs = options.cellTimeoutMs ?? scenario.timeoutMs ?? DEFAULT_CELL_TIMEOUT_MS;
    const controller = new AbortController();
    const onRunAbort = () => controller.abort(new Error('the run was aborted'));
    options.signal?.addEventListener('abort', onRunAbort, { once: true });
    const timer = setTimeout(() => controller.abort(new Error(`cell timed out after ${timeoutMs} ms`)), timeoutMs);
    const fault = options.faults?.({ target, scenario: scenario.id });
    const cell = new Cell({
      targetLabel: target.label,
      expectedVersion: target.version ?? provisioned.envoyVersion?.reported,
      tableVersion: target.version ?? provisioned.envoyVersion?.effective,
      provisioned,
      runtime,
      scenarioId: scenario.id,
      dir,
      runId,
      connectTimeoutMs,
      signal: controller.signal,
      ...(fault ? { fault } : {}),
    });
    let failure: { phase: CellResult['phase']; reason: string } | undefined;
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(new AbortedError(controller.signal.reason)), { once: true });
    });
    aborted.catch(() => undefined);
    try {
      const body = scenario.run(cell);
      body.catch(() => undefined); // after a timeout the body may still reject; the race below has decided
      await Promise.race([body, aborted]);
    } catch (error) {
      const timedOut = controller.signal.aborted;
      const phase = timedOut ? 'timeout' : error instanceof CellFailure ? error.phase : cell.phase;
      const message = error instanceof Error ? error.message : String(error);
      failure = { phase, reason: timedOut ? `${(controller.signal.reason as Error).message} (during ${cell.phase}); last step: ${message}` : message };
      cell.log(`FAILED (${phase}): ${message}${error instanceof Error && !(error instanceof CellFailure) && error.stack ? `\n${error.stack}` : ''}`);
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onRunAbort);
    }
    const { envoyErrors, files } = await cell.collect(failure !== undefined);
    const cleanupErrors = await cell.close();
    if (cleanupErrors.length > 0 && !failure) failure = { phase: 'scenario', reason: `cleanup failed: ${cleanupErrors.join('; ')}` };
    const logs = Object.fromEntries(Object.entries(files).map(([k, f]) => [k, rel(f)]));
    return {
      ...base,
      ...(cell.version ? { version: cell.version } : {}),
      status: failure ? 'fail' : 'pass',
      durationMs: Date.now() - t0,
      ...(failure ? failure : {}),
      envoyErrors,
      logs,
      notes: cell.notes,
    };
  };

  try {
    const workers = Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const result = await runCell(next.target, next.scenario);
        cells.push(result);
        options.onCell?.(result);
      }
    });
    await Promise.all(workers);
  } finally {
    await runtime.sweep(RUN_LABEL, runId).catch((error: Error) => cleanup.errors.push(`the end-of-run sweep failed: ${error.message}`));
    // Proof, not hope: whatever still carries this run's label is reported (and fails the run).
    cleanup.leftovers = await runtime.list(RUN_LABEL, runId).catch((error: Error) => [`(cannot list: ${error.message})`]);
  }

  const finished = Date.now();
  const order = (c: CellResult) => [scenarios.findIndex((s) => s.id === c.scenario), options.targets.findIndex((t) => t.label === c.target)];
  cells.sort((a, b) => {
    const [sa, ta] = order(a);
    const [sb, tb] = order(b);
    return (sa as number) - (sb as number) || (ta as number) - (tb as number);
  });
  const report: MatrixReport = {
    tool: 'meshcp compat run',
    runId,
    runtime: runtime.name,
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    durationMs: finished - started,
    concurrency,
    targets: options.targets.map(
      (t) =>
        targetResults.get(t.label) ?? {
          label: t.label,
          provisionMs: 0,
          ...(t.version ? { version: t.version } : {}),
          ...(t.image ? { image: t.image } : {}),
        },
    ),
    scenarios: scenarios.map((s) => ({ id: s.id, title: s.title })),
    cells,
    cleanup,
    summary: {
      passed: cells.filter((c) => c.status === 'pass').length,
      failed: cells.filter((c) => c.status === 'fail').length,
      skipped: cells.filter((c) => c.status === 'skip').length,
      total: cells.length,
    },
  };
  writeReport(options.outDir, report);
  return report;
}
