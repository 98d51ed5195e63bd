/**
 * The server's own event-loop measure (meshcp_event_loop_{delay,busy}_max_seconds):
 * a stall meshcp's code causes shows in both figures; a pause the host imposes (the
 * process stopped, as an overloaded machine deschedules it) shows in the wall delay
 * only, so the busy figure the attack tests assert on can neither be hidden by a
 * fast host nor faked by a loaded one. The pause is real: SIGSTOP/SIGCONT on a
 * child process running the monitor.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EventLoopMonitor, Metrics } from '../src/metrics.js';

const METRICS_JS = fileURLToPath(new URL('../dist/metrics.js', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Holds the loop for `ms` of this thread's CPU time (on a loaded host, more wall time), as a quadratic handler would. */
function busyFor(ms: number): void {
  const cpuMs = () => {
    const { user, system } = process.threadCpuUsage();
    return (user + system) / 1000;
  };
  const until = cpuMs() + ms;
  while (cpuMs() < until) {
    // spin
  }
}

describe('event-loop monitor', () => {
  it('a 300 ms stall in our own code shows in both figures; the window resets on read', async () => {
    const monitor = new EventLoopMonitor();
    try {
      await sleep(50);
      monitor.takeWindow();
      busyFor(300);
      await sleep(50);
      const stalled = monitor.takeWindow();
      expect(stalled.delayMaxSeconds).toBeGreaterThan(0.25);
      expect(stalled.busyMaxSeconds).toBeGreaterThan(0.2);
      await sleep(100);
      const quiet = monitor.takeWindow();
      expect(quiet.busyMaxSeconds).toBeLessThan(0.2);
    } finally {
      monitor.close();
    }
  });

  it('both gauges are on /metrics, and one scrape ends the window', async () => {
    const metrics = new Metrics();
    try {
      await sleep(30);
      await metrics.registry.metrics();
      busyFor(250);
      await sleep(30);
      const text = await metrics.registry.metrics();
      const value = (name: string) => Number(text.match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1]);
      expect(value('meshcp_event_loop_delay_max_seconds')).toBeGreaterThan(0.2);
      expect(value('meshcp_event_loop_busy_max_seconds')).toBeGreaterThan(0.15);
      const next = await metrics.registry.metrics();
      expect(Number(next.match(/^meshcp_event_loop_busy_max_seconds (\S+)$/m)?.[1])).toBeLessThan(0.15);
    } finally {
      metrics.close();
    }
  });

  it('a process paused by the host (SIGSTOP 600 ms) shows a wall delay but no busy stall', async () => {
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { EventLoopMonitor } from ${JSON.stringify(METRICS_JS)};
         const monitor = new EventLoopMonitor();
         process.stdin.on('data', () => process.stdout.write(JSON.stringify(monitor.takeWindow()) + '\\n'));
         process.stdout.write('ready\\n');`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    try {
      const lines: string[] = [];
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => lines.push(...chunk.split('\n').filter(Boolean)));
      const next = async () => {
        const seen = lines.length;
        child.stdin.write('\n');
        while (lines.length === seen) await sleep(10);
        return JSON.parse(lines[lines.length - 1] as string) as { delayMaxSeconds: number; busyMaxSeconds: number };
      };
      while (!lines.includes('ready')) await sleep(10);
      await sleep(100);
      await next();
      child.kill('SIGSTOP');
      await sleep(600);
      child.kill('SIGCONT');
      await sleep(100);
      const paused = await next();
      expect(paused.delayMaxSeconds).toBeGreaterThan(0.4);
      expect(paused.busyMaxSeconds).toBeLessThan(0.1);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
