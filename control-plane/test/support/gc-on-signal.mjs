// Preloaded into a `meshcp serve` under test (node --expose-gc --import this-file):
// SIGUSR2 runs a full garbage collection, so the test can read retained memory
// instead of whatever the collector has not got round to yet. Nothing else changes.
if (typeof globalThis.gc === 'function') {
  process.on('SIGUSR2', () => {
    globalThis.gc();
    process.stderr.write(`${JSON.stringify({ level: 'debug', component: 'test', msg: 'gc done' })}\n`);
  });
}
