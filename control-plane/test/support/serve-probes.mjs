// Preloaded into a `meshcp serve` under test (node --expose-gc --import this-file),
// and so into its xDS worker processes too (they inherit the primary's exec arguments).
// Nothing here changes how meshcp behaves; it only lets the test see inside:
// SIGUSR2 runs a full garbage collection in the primary and every worker, so the test
// reads retained memory (/metrics sums resident memory over the processes).
// (Event-loop stalls are measured by meshcp itself: meshcp_event_loop_*_max_seconds.)
import cluster from 'node:cluster';

if (typeof globalThis.gc === 'function') {
  process.on('SIGUSR2', () => {
    if (cluster.isPrimary) for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGUSR2');
    globalThis.gc();
    process.stderr.write(`${JSON.stringify({ level: 'debug', component: 'test', msg: 'gc done' })}\n`);
  });
}
