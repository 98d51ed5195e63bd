/** Child processes of the benchmark: started with a deadline, always stopped. */
import { type ChildProcess, spawn } from 'node:child_process';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BENCH_CACHE = join(process.env.MESHCP_CACHE ?? join(homedir(), '.cache', 'meshcp'), 'bench');
export const LOADGEN_BIN = join(BENCH_CACHE, 'loadgen');
export const GCP_SERVER_BIN = join(BENCH_CACHE, 'gcp-server');
export const MESHCP_SERVER_JS = join(REPO_ROOT, 'bench', 'dist', 'meshcp-server.js');
export const FLOOR_SERVER_JS = join(REPO_ROOT, 'bench', 'dist', 'floor-server.js');
export const MESHCP_CLI_JS = join(REPO_ROOT, 'control-plane', 'bin', 'meshcp.js');

const live = new Set<ChildProcess>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const killAll = () => {
    for (const child of live) child.kill('SIGKILL');
  };
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

/** Kills `child` with the benchmark if it is still running when the benchmark exits. */
export function track(child: ChildProcess): void {
  hookExit();
  live.add(child);
  child.once('exit', () => live.delete(child));
}

export interface Server {
  name: string;
  child: ChildProcess;
  pid: number;
  xdsPort: number;
  controlPort: number;
  stderr: () => string;
  stop(): Promise<void>;
}

/** Starts a server process and waits for its `READY xds=… control=… pid=…` line. */
export async function startServer(name: string, command: string, args: string[], timeoutMs = 120_000): Promise<Server> {
  hookExit();
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT });
  live.add(child);
  let err = '';
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
    if (err.length > 200_000) err = err.slice(-100_000);
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) {
      live.delete(child);
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    live.delete(child);
  };
  const ready = await new Promise<{ xds: number; control: number }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not become ready in ${timeoutMs} ms; stderr: ${err.slice(-2000)}`)), timeoutMs);
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /READY xds=(\d+) control=(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ xds: Number(m[1]), control: Number(m[2]) });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before ready; stderr: ${err.slice(-2000)}`));
    });
  }).catch(async (error) => {
    await stop();
    throw error;
  });
  return { name, child, pid: child.pid ?? 0, xdsPort: ready.xds, controlPort: ready.control, stderr: () => err, stop };
}

/** Runs a command to completion with a deadline; resolves with stdout, stderr and exit code. */
export async function runCommand(
  command: string,
  args: string[],
  timeoutMs: number,
  onStderr?: (text: string) => void,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  hookExit();
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT });
  live.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    const text = c.toString();
    stderr += text;
    onStderr?.(text);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  live.delete(child);
  return { code, stdout, stderr };
}
