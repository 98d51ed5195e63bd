/**
 * Runs the client axis: client versions × client scenarios, each cell isolated
 * (its own control plane, backends and client process), a few at a time, each
 * under a deadline. Every client is built or installed once (cached) before its
 * cells run; one that cannot be installed fails its cells with the reason.
 */
import { join, relative } from 'node:path';
import { ClientCell, ClientCellFailure } from './cell.js';
import { installClient } from './program.js';
import { type ClientScenario, clientScenarios, expectedProfile } from './scenarios.js';
import type { GrpcProfile, ResourceHookLike } from './types.js';
import { type ClientTarget, IMPLEMENTATIONS } from './versions.js';

export interface ClientCellResult {
  target: string;
  implementation: string;
  version: string;
  scenario: string;
  status: 'pass' | 'fail' | 'skip';
  durationMs: number;
  reason?: string;
  /** What the client library itself said (NACK texts meshcp recorded, RPC errors, its stderr tail). */
  clientErrors: string[];
  logs: Record<string, string>;
  notes: Record<string, string | number>;
}

export interface ClientTargetResult {
  label: string;
  implementation: string;
  version: string;
  registry: string;
  /** The capability-table profile the scenarios expected, and what it lacks. */
  profile: string;
  lacks: string[];
  installMs: number;
  installError?: string;
}

export interface ClientAxisReport {
  targets: ClientTargetResult[];
  scenarios: { id: string; title: string }[];
  cells: ClientCellResult[];
  durationMs: number;
}

export interface ClientMatrixOptions {
  targets: ClientTarget[];
  outDir: string;
  scenarios?: string[];
  concurrency?: number;
  cellTimeoutMs?: number;
  /** Plants a fault in chosen cells (tests only): a resource hook installed on that cell's control plane. */
  faults?: (cell: { target: ClientTarget; scenario: string }) => { note: string; resourceHook: ResourceHookLike } | undefined;
  signal?: AbortSignal;
  onCell?: (result: ClientCellResult) => void;
}

const DEFAULT_CELL_TIMEOUT_MS = 60_000;

/** Features of the table the profile lacks (for the report's "what each client version lacks"). */
function lacks(profile: GrpcProfile, all: readonly string[]): string[] {
  return all.filter((f) => !profile.features.has(f as never));
}

export async function runClientMatrix(options: ClientMatrixOptions, allFeatures: readonly string[]): Promise<ClientAxisReport> {
  const started = Date.now();
  const scenarios = clientScenarios(options.scenarios);
  const concurrency = Math.max(1, options.concurrency ?? 2);
  const signal = options.signal ?? new AbortController().signal;
  const targets: ClientTargetResult[] = [];
  const cells: ClientCellResult[] = [];
  const installs = new Map<string, Promise<string>>();
  const install = (target: ClientTarget): Promise<string> => {
    let pending = installs.get(target.label);
    if (!pending) {
      const t0 = Date.now();
      const profile = expectedProfile(target);
      const result: ClientTargetResult = {
        label: target.label,
        implementation: target.implementation,
        version: target.version,
        registry: IMPLEMENTATIONS[target.implementation].registry,
        profile: profile.name,
        lacks: lacks(profile, allFeatures),
        installMs: 0,
      };
      targets.push(result);
      pending = installClient(target).then(
        (launcher) => {
          result.installMs = Date.now() - t0;
          return launcher;
        },
        (error: Error) => {
          result.installMs = Date.now() - t0;
          result.installError = error.message;
          throw error;
        },
      );
      installs.set(target.label, pending);
    }
    return pending;
  };

  const queue: { target: ClientTarget; scenario: ClientScenario }[] = [];
  for (const target of options.targets) for (const scenario of scenarios) queue.push({ target, scenario });
  const worker = async () => {
    for (;;) {
      const next = queue.shift();
      if (!next || signal.aborted) return;
      const result = await runCell(next.target, next.scenario, options, install, signal);
      cells.push(result);
      options.onCell?.(result);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const order = (c: ClientCellResult) => options.targets.findIndex((t) => t.label === c.target) * 1000 + scenarios.findIndex((s) => s.id === c.scenario);
  cells.sort((a, b) => order(a) - order(b));
  targets.sort((a, b) => options.targets.findIndex((t) => t.label === a.label) - options.targets.findIndex((t) => t.label === b.label));
  return { targets, scenarios: scenarios.map((s) => ({ id: s.id, title: s.title })), cells, durationMs: Date.now() - started };
}

async function runCell(
  target: ClientTarget,
  scenario: ClientScenario,
  options: ClientMatrixOptions,
  install: (t: ClientTarget) => Promise<string>,
  signal: AbortSignal,
): Promise<ClientCellResult> {
  const dir = join(options.outDir, 'clients', target.label.replace(/[^A-Za-z0-9.@_-]/g, '_'), scenario.id);
  const base = { target: target.label, implementation: target.implementation, version: target.version, scenario: scenario.id };
  const t0 = Date.now();
  let launcher: string;
  try {
    launcher = await install(target);
  } catch (error) {
    return { ...base, status: 'fail', durationMs: 0, reason: (error as Error).message, clientErrors: [], logs: {}, notes: {} };
  }
  const fault = options.faults?.({ target, scenario: scenario.id });
  const cellAbort = new AbortController();
  const onAbort = () => cellAbort.abort();
  signal.addEventListener('abort', onAbort);
  const cell = new ClientCell(target, launcher, scenario.id, dir, cellAbort.signal, fault?.resourceHook as never);
  if (fault) cell.note('fault', fault.note);
  const timeoutMs = options.cellTimeoutMs ?? scenario.timeoutMs ?? DEFAULT_CELL_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  let status: ClientCellResult['status'] = 'pass';
  let reason: string | undefined;
  const clientErrors: string[] = [];
  try {
    await Promise.race([
      scenario.run(cell, expectedProfile(target)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          cellAbort.abort();
          reject(new ClientCellFailure(`the cell did not finish in ${timeoutMs / 1000} s`));
        }, timeoutMs);
      }),
    ]);
  } catch (error) {
    status = 'fail';
    reason = (error as Error).message;
    cell.log(`FAIL: ${reason}`);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    try {
      for (const view of await cell.proxies())
        for (const t of Object.values(view.types)) if (t.lastNack) clientErrors.push(`${t.short} NACK: ${t.lastNack.error}`);
    } catch {
      // the plane may never have started
    }
    if (status === 'fail') {
      try {
        const tail = cell.client.stderr.trim().split('\n').slice(-8).join('\n');
        if (tail) clientErrors.push(`client stderr:\n${tail}`);
      } catch {
        // no client process
      }
    }
    await cell.cleanup.run();
  }
  return {
    ...base,
    status,
    durationMs: Date.now() - t0,
    ...(reason ? { reason } : {}),
    clientErrors,
    logs: { cell: relative(options.outDir, cell.logFile), client: relative(options.outDir, cell.clientLogFile) },
    notes: cell.notes,
  };
}
