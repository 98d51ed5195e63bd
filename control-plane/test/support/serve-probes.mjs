// Preloaded into a `meshcp serve` under test (node --expose-gc --import this-file).
// Nothing here changes how meshcp behaves; it only lets the test see inside:
// - SIGUSR2 runs a full garbage collection, so the test reads retained memory.
// - With MESHCP_STALL_LOG set, a 10 ms timer records every event-loop turn that came
//   more than 50 ms late, with the CPU time the main thread spent meanwhile (from
//   /proc/self/task/<pid>/stat). On a shared, overloaded machine the wall-clock delay
//   also counts time the process waited for a core; the CPU time is what meshcp's own
//   code held the loop for.
import { appendFileSync, readFileSync } from 'node:fs';

if (typeof globalThis.gc === 'function') {
  process.on('SIGUSR2', () => {
    globalThis.gc();
    process.stderr.write(`${JSON.stringify({ level: 'debug', component: 'test', msg: 'gc done' })}\n`);
  });
}

const stallLog = process.env.MESHCP_STALL_LOG;
if (stallLog) {
  const statPath = `/proc/self/task/${process.pid}/stat`;
  const ticksPerMs = 100 / 1000; // CLK_TCK
  const mainThreadCpuMs = () => {
    const stat = readFileSync(statPath, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5); fields[0] is field 3.
    return (Number(fields[11]) + Number(fields[12])) / ticksPerMs;
  };
  let lastWall = performance.now();
  let lastCpu = mainThreadCpuMs();
  setInterval(() => {
    const wall = performance.now();
    const cpu = mainThreadCpuMs();
    const lateMs = wall - lastWall - 10;
    if (lateMs > 50) appendFileSync(stallLog, `${JSON.stringify({ at: Date.now(), wallMs: Math.round(lateMs), cpuMs: Math.round(cpu - lastCpu) })}\n`);
    lastWall = wall;
    lastCpu = cpu;
  }, 10).unref();
}
