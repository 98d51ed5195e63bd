/**
 * The V8 young-generation size of xDS worker processes: V8's own unless asked.
 *
 * `MESHCP_WORKER_SEMI_SPACE_MB=N` passes `--max-semi-space-size=N` to the workers when
 * forked (node:cluster execArgv); an operator's own `--max-semi-space-size` (in
 * NODE_OPTIONS or the command line, dashes or underscores) wins.
 *
 * Not on by default, measured (docs/performance.md, "Memory per stream", change 8): 4 MiB
 * semi-spaces cut a worker's heap at 1,500 SotW streams from ≈ 190 MB to ≈ 70 MB during
 * a sync, but in the 5,000-proxy soak (50 changes/s, 1 % reconnecting per second) they
 * doubled change → last ACK (p50 74 s against 33 s) and the RSS growth (27 % against 8 %,
 * 120-s runs): under churn the many short-lived objects promoted to the old generation
 * cost more than the young generation saved.
 */

const FLAG = '--max-semi-space-size';
/** V8 takes its flags with dashes or underscores. */
const OPERATOR_FLAG = /--max[-_]semi[-_]space[-_]size/;

/** execArgv for a forked xDS worker: the parent's, plus the young-generation size when MESHCP_WORKER_SEMI_SPACE_MB asks for one. */
export function workerExecArgv(execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env): string[] {
  const setByOperator = execArgv.some((arg) => OPERATOR_FLAG.test(arg)) || OPERATOR_FLAG.test(env.NODE_OPTIONS ?? '');
  const megabytes = Number(env.MESHCP_WORKER_SEMI_SPACE_MB ?? '');
  if (setByOperator || !Number.isInteger(megabytes) || megabytes <= 0) return [...execArgv];
  return [...execArgv, `${FLAG}=${megabytes}`];
}
