/**
 * The V8 young-generation size of xDS worker processes: 16 MiB semi-spaces unless asked.
 *
 * `MESHCP_WORKER_SEMI_SPACE_MB=N` passes `--max-semi-space-size=N` to the workers when
 * forked (node:cluster execArgv) instead (a whole number up to 1024; anything else is reported
 * and the default kept); `0` leaves V8's own size; an operator's own
 * `--max-semi-space-size` (in NODE_OPTIONS or the command line, dashes or underscores) wins.
 *
 * Why 16 MiB (docs/performance.md, "Memory per stream", change 8): on a machine with
 * 24 GiB V8 sizes a worker's semi-spaces at 64 MiB, so each worker's new space grows to
 * 128 MiB during a sync — 25 KB per stream of RSS at 10,000 SotW proxies on 2 workers. At
 * 16 MiB the 10,000-proxy sync measured 77 KB per stream against 98 KB, and the 120-s
 * soak at 5,000 proxies (50 changes/s, 1 % reconnecting per second) lost nothing: change →
 * last ACK p50 43 s against 39 s (within the run-to-run spread), RSS growth 9.8 % against
 * 13.1 %. At 4 MiB the same soak doubled change → last ACK (74 s against 33 s) and the
 * RSS growth (27 % against 8 %): too many short-lived objects survive into the old
 * generation under churn.
 */

const FLAG = '--max-semi-space-size';
/** V8 takes its flags with dashes or underscores. */
const OPERATOR_FLAG = /--max[-_]semi[-_]space[-_]size/;
/** MiB, measured above. */
export const DEFAULT_WORKER_SEMI_SPACE_MB = 16;

/** execArgv for a forked xDS worker: the parent's, plus the young-generation size (MESHCP_WORKER_SEMI_SPACE_MB, 16 MiB when unset, 0: V8's own). */
export function workerExecArgv(execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env): string[] {
  const setByOperator = execArgv.some((arg) => OPERATOR_FLAG.test(arg)) || OPERATOR_FLAG.test(env.NODE_OPTIONS ?? '');
  if (setByOperator) return [...execArgv];
  const megabytes = askedSemiSpace(env) ?? DEFAULT_WORKER_SEMI_SPACE_MB;
  return megabytes === 0 ? [...execArgv] : [...execArgv, `${FLAG}=${megabytes}`];
}

/** The most MiB a semi-space may be asked to be (V8's own ceiling on 64-bit). */
const MAX_SEMI_SPACE_MB = 1024;

/** MESHCP_WORKER_SEMI_SPACE_MB as a whole number of MiB (0: V8's own), or undefined when unset or not one (then the default). */
export function askedSemiSpace(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const asked = env.MESHCP_WORKER_SEMI_SPACE_MB?.trim();
  if (!asked || !/^\d{1,4}$/.test(asked)) return undefined;
  const megabytes = Number(asked);
  return megabytes <= MAX_SEMI_SPACE_MB ? megabytes : undefined;
}
