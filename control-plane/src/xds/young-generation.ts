/**
 * The V8 young-generation size of xDS worker processes.
 *
 * A worker's garbage is mostly short-lived: decoded requests (a SotW EDS ACK repeats
 * 1,000 names), plans and response bookkeeping, dead as soon as a response is written.
 * V8 sizes the young generation's semi-spaces by the machine's memory (16 MiB and more
 * each here), and it keeps those pages — and the old-generation pages that the
 * promotions of a large young generation grow — resident: at 1,500 SotW streams per
 * worker the V8 heap was ≈ 190 MB with ≈ 55 MB live. With 4 MiB semi-spaces the same
 * workers held ≈ 70 MB of heap at the same CPU (docs/performance.md, "Memory per stream").
 *
 * Passed to the workers as a V8 flag when forked (node:cluster execArgv); an operator's
 * own `--max-semi-space-size` (in NODE_OPTIONS or the command line) wins, and
 * MESHCP_WORKER_SEMI_SPACE_MB=0 leaves V8's default.
 */

/** Semi-space size (MiB) of a worker's young generation. */
export const WORKER_SEMI_SPACE_MB = 4;

const FLAG = '--max-semi-space-size';
/** V8 takes its flags with dashes or underscores. */
const OPERATOR_FLAG = /--max[-_]semi[-_]space[-_]size/;

/** execArgv for a forked xDS worker: the parent's, plus the young-generation size unless set. */
export function workerExecArgv(execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env): string[] {
  const setByOperator = execArgv.some((arg) => OPERATOR_FLAG.test(arg)) || OPERATOR_FLAG.test(env.NODE_OPTIONS ?? '');
  const requested = env.MESHCP_WORKER_SEMI_SPACE_MB;
  const megabytes = requested === undefined || requested === '' ? WORKER_SEMI_SPACE_MB : Number(requested);
  if (setByOperator || !Number.isInteger(megabytes) || megabytes <= 0) return [...execArgv];
  return [...execArgv, `${FLAG}=${megabytes}`];
}
