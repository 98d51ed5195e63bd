import { type ChildProcess, spawn } from 'node:child_process';
import type { Cleanup } from './cleanup.js';

export interface RunningProcess {
  child: ChildProcess;
  /** stdout + stderr so far (the last ~1 MB). */
  output: () => string;
  stop: () => Promise<void>;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export function startProcess(command: string, args: string[], cleanup: Cleanup, env: NodeJS.ProcessEnv = process.env): RunningProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 2_000_000) output = output.slice(-1_000_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  child.on('error', (error) => append(Buffer.from(`\n[spawn ${command} failed: ${error.message}]\n`)));
  const stop = () => stopProcess(child);
  cleanup.add(stop);
  return { child, output: () => output, stop };
}
