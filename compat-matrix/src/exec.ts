import { spawn } from 'node:child_process';

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the command could not be spawned or ran past its timeout. */
  error?: string;
}

/**
 * Runs a command to completion with a hard timeout (then SIGKILL); never throws
 * and never hangs — the caller reads `code`/`error`.
 */
export function exec(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<ExecResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let error: string | undefined;
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const kill = (why: string) => {
      error ??= why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => kill(`${command} ${args[0] ?? ''} timed out after ${timeoutMs} ms`), timeoutMs);
    const onAbort = () => kill(`${command} ${args[0] ?? ''} aborted`);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', (e) => {
      error ??= `cannot run ${command}: ${e.message}`;
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ code, stdout, stderr, ...(error ? { error } : {}) });
    });
  });
}

/** The last non-empty lines of a text, for error messages. */
export function tail(text: string, lines = 8): string {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter(Boolean)
    .slice(-lines)
    .join('\n');
}
