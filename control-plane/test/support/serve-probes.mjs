// Preloaded into a `meshcp serve` under test (node --expose-gc --import this-file).
// Nothing here changes how meshcp behaves; it only lets the test see inside:
// SIGUSR2 runs a full garbage collection, so the test reads retained memory.
// (Event-loop stalls are measured by meshcp itself: meshcp_event_loop_*_max_seconds.)
if (typeof globalThis.gc === 'function') {
  process.on('SIGUSR2', () => {
    globalThis.gc();
    process.stderr.write(`${JSON.stringify({ level: 'debug', component: 'test', msg: 'gc done' })}\n`);
  });
}
