/**
 * `meshcp-compat` (and `meshcp compat …`, which runs this):
 *   run --envoy X.Y.Z[,…] [--image REF[,…]] [--runtime podman|docker|process] --out DIR
 *       [--scenarios ID,…] [--concurrency N] [--cell-timeout S] [--connect-timeout S]
 *   provision [--envoy X.Y.Z,…] [--runtime …]     (default: the releases in xds-protos/envoy-api.json)
 *   scenarios | versions
 */
import { parseArgs } from 'node:util';
import { type ClientTarget, clientTarget, defaultClients, runClientAxis } from './clients/index.js';
import { cleanupLines, writeReport } from './report.js';
import { runMatrix, targetsFrom } from './runner.js';
import { createRuntime } from './runtime/index.js';
import { RUNTIMES } from './runtime/types.js';
import { loadScenarios } from './scenarios/index.js';
import { defaultVersions } from './versions.js';

export const USAGE = `usage:
  meshcp compat run [--envoy X.Y.Z[,…]] [--image REF[,…]] [--runtime podman|docker|process] --out DIR
                    [--client IMPL@X.Y.Z[,…] | --client default] [--client-scenarios ID[,…]]
                    [--scenarios ID[,…]] [--concurrency N] [--cell-timeout SECONDS] [--connect-timeout SECONDS]
      (--cell-timeout default: the scenario's own, else 120)
      (no --envoy/--image/--client: the versions in the "releases" of xds-protos/envoy-api.json)
      (--client: proxyless gRPC clients, IMPL one of grpc-go, grpc-java, grpcio, grpc-js-xds;
       'default' = compat-matrix/grpc-clients.json; with --client alone the Envoy axis is skipped)
  meshcp compat provision [--envoy X.Y.Z[,…]] [--runtime podman|docker|process]
  meshcp compat scenarios
  meshcp compat versions`;

class UsageError extends Error {}

const list = (value: string | undefined) =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function positive(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag} must be a positive number, got ${JSON.stringify(value)}`);
  return n;
}

function runtimeName(value: string | undefined): string {
  const name = value ?? 'podman';
  if (!(RUNTIMES as readonly string[]).includes(name)) throw new UsageError(`--runtime must be one of ${RUNTIMES.join(', ')}, got ${JSON.stringify(name)}`);
  return name;
}

async function run(args: string[], signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      envoy: { type: 'string', multiple: true },
      image: { type: 'string', multiple: true },
      runtime: { type: 'string' },
      out: { type: 'string' },
      scenarios: { type: 'string' },
      concurrency: { type: 'string' },
      'cell-timeout': { type: 'string' },
      'connect-timeout': { type: 'string' },
      client: { type: 'string', multiple: true },
      'client-scenarios': { type: 'string' },
    },
  });
  if (!values.out) throw new UsageError('missing --out DIR');
  const envoy = (values.envoy ?? []).flatMap(list);
  const images = (values.image ?? []).flatMap(list);
  const clientArgs = (values.client ?? []).flatMap(list);
  let clients: ClientTarget[] = [];
  try {
    clients = clientArgs.flatMap((c) => (c === 'default' ? defaultClients() : [clientTarget(c)]));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (clients.length > 0 && envoy.length === 0 && images.length === 0) return runClientsOnly(clients, values, signal);
  let targets: ReturnType<typeof targetsFrom>;
  try {
    targets = targetsFrom(envoy.length === 0 && images.length === 0 ? defaultVersions() : envoy, images);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const cellTimeout = positive(values['cell-timeout'], 'cell-timeout');
  const connectTimeout = positive(values['connect-timeout'], 'connect-timeout');
  const scenarios = list(values.scenarios);
  if (scenarios.length > 0) await loadScenarios(scenarios).catch((error: Error) => Promise.reject(new UsageError(error.message)));
  const runtime = createRuntime(runtimeName(values.runtime));
  process.stderr.write(`compat: ${targets.map((t) => t.label).join(', ')} on ${runtime.name} → ${values.out}\n`);
  const report = await runMatrix({
    targets,
    runtime,
    outDir: values.out,
    ...(scenarios.length > 0 ? { scenarios } : {}),
    ...(values.concurrency ? { concurrency: positive(values.concurrency, 'concurrency') } : {}),
    ...(cellTimeout ? { cellTimeoutMs: cellTimeout * 1000 } : {}),
    ...(connectTimeout ? { connectTimeoutMs: connectTimeout * 1000 } : {}),
    signal,
    onCell: (c) =>
      process.stderr.write(
        `${c.status.toUpperCase().padEnd(4)} ${c.scenario} × ${c.target} (${(c.durationMs / 1000).toFixed(1)}s)${c.reason ? `: ${c.reason.split('\n')[0]?.slice(0, 300)}` : ''}\n`,
      ),
  });
  if (clients.length > 0) {
    report.clients = await runClientAxis(clients, clientOptions(values), signal);
    for (const c of report.clients.cells) report.summary[c.status === 'pass' ? 'passed' : c.status === 'fail' ? 'failed' : 'skipped']++;
    report.summary.total += report.clients.cells.length;
    report.durationMs += report.clients.durationMs;
    report.finishedAt = new Date().toISOString();
    writeReport(values.out, report);
  }
  const { summary } = report;
  process.stdout.write(`${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped in ${(report.durationMs / 1000).toFixed(1)}s\n`);
  process.stdout.write(`report: ${values.out}/report.html (also report.md, report.json)\n`);
  const { cleanup } = report;
  for (const line of cleanupLines(report)) process.stdout.write(`${line.replace(/\*\*/g, '')}\n`);
  const cleanedUp = !cleanup || (cleanup.leftovers.length === 0 && cleanup.errors.length === 0);
  return summary.failed === 0 && cleanedUp && !signal.aborted ? 0 : 1;
}

interface ClientValues {
  out?: string;
  concurrency?: string;
  'cell-timeout'?: string;
  'client-scenarios'?: string;
}

function clientOptions(values: ClientValues) {
  const cellTimeout = positive(values['cell-timeout'], 'cell-timeout');
  const scenarios = list(values['client-scenarios']);
  return {
    outDir: values.out as string,
    ...(scenarios.length > 0 ? { scenarios } : {}),
    ...(values.concurrency ? { concurrency: positive(values.concurrency, 'concurrency') as number } : {}),
    ...(cellTimeout ? { cellTimeoutMs: cellTimeout * 1000 } : {}),
  };
}

/** `--client` without `--envoy`/`--image`: the client axis alone, in the same report format. */
async function runClientsOnly(clients: ClientTarget[], values: ClientValues, signal: AbortSignal): Promise<number> {
  const startedAt = new Date().toISOString();
  process.stderr.write(`compat: clients ${clients.map((c) => c.label).join(', ')} → ${values.out}\n`);
  const axis = await runClientAxis(clients, clientOptions(values), signal);
  const count = (s: string) => axis.cells.filter((c) => c.status === s).length;
  const summary = { passed: count('pass'), failed: count('fail'), skipped: count('skip'), total: axis.cells.length };
  writeReport(values.out as string, {
    tool: 'meshcp compat run',
    runId: `clients-${Date.now().toString(36)}`,
    runtime: 'process',
    startedAt,
    finishedAt: new Date().toISOString(),
    durationMs: axis.durationMs,
    concurrency: clientOptions(values).concurrency ?? 2,
    targets: [],
    scenarios: [],
    cells: [],
    summary,
    clients: axis,
  });
  process.stdout.write(`${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped in ${(axis.durationMs / 1000).toFixed(1)}s\n`);
  process.stdout.write(`report: ${values.out}/report.html (also report.md, report.json)\n`);
  return summary.failed === 0 && !signal.aborted ? 0 : 1;
}

async function provision(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { envoy: { type: 'string', multiple: true }, runtime: { type: 'string' } } });
  const envoy = (values.envoy ?? []).flatMap(list);
  const runtime = createRuntime(runtimeName(values.runtime));
  let failed = 0;
  for (const target of targetsFrom(envoy.length > 0 ? envoy : defaultVersions())) {
    try {
      const p = await runtime.provision(target);
      process.stdout.write(`${target.label}: ${p.detail}\n`);
    } catch (error) {
      failed++;
      process.stderr.write(`${target.label}: ${(error as Error).message}\n`);
    }
  }
  return failed === 0 ? 0 : 1;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const controller = new AbortController();
  const onSignal = (signal: string) => {
    process.stderr.write(`compat: ${signal}: stopping cells and cleaning up\n`);
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    switch (command) {
      case 'run':
        return await run(rest, controller.signal);
      case 'provision':
        return await provision(rest);
      case 'scenarios':
        for (const s of await loadScenarios()) process.stdout.write(`${s.id.padEnd(24)} ${s.title}\n`);
        return 0;
      case 'versions':
        process.stdout.write(`${defaultVersions().join('\n')}\n`);
        return 0;
      default:
        process.stderr.write(`${USAGE}\n`);
        return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
    }
  } catch (error) {
    process.stderr.write(`meshcp compat ${command}: ${(error as Error).message}\n`);
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${USAGE}\n`);
      return 2;
    }
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
