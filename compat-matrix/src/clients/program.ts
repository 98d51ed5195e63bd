/**
 * A proxyless gRPC test program (compat-matrix/clients/<lang>/), built or
 * installed once from its own registry and cached, then driven over stdin:
 * `call COUNT TIMEOUT_MS [PAYLOAD]` → one JSON line per RPC. The client keeps one
 * channel (one xDS client) for its whole life, so a scenario sees live changes.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Cleanup } from '../support/cleanup.js';
import { stopProcess } from '../support/process.js';
import { type ClientImplementation, type ClientTarget, IMPLEMENTATIONS } from './versions.js';

const INSTALL_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'clients', 'install.sh');

/** Builds or installs (once, cached) and returns the program's launcher. */
export async function installClient(target: Pick<ClientTarget, 'implementation' | 'version'>): Promise<string> {
  const { stdout } = await promisify(execFile)('bash', [INSTALL_SCRIPT, target.implementation, target.version], {
    maxBuffer: 1 << 20,
    timeout: 20 * 60_000,
  }).catch((error: Error & { stderr?: string }) => {
    throw new Error(`installing ${target.implementation}@${target.version} failed: ${(error.stderr ?? error.message).trim().slice(-1500)}`);
  });
  return stdout.trim().split('\n').pop() as string;
}

/** One RPC as the client saw it: gRPC status code and the client library's own message. */
export interface RpcResult {
  ok: boolean;
  backend?: string;
  code?: number;
  message?: string;
  ms: number;
}

const CODE_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

export function codeName(code: number | undefined): string {
  return CODE_NAMES[code ?? 2] ?? `code ${code}`;
}

export function describeRpc(r: RpcResult): string {
  return r.ok ? `OK from ${r.backend}` : `${codeName(r.code)}: ${r.message}`;
}

interface Pending {
  results: RpcResult[];
  resolve: (results: RpcResult[]) => void;
  reject: (error: Error) => void;
}

export class GrpcClientProcess {
  private readonly child: ChildProcess;
  private pending?: Pending;
  private exited?: string;
  private stderrTail = '';
  private queue: Promise<unknown> = Promise.resolve();

  constructor(launcher: string, target: string, bootstrapFile: string, logFile: string, cleanup: Cleanup, extraEnv: NodeJS.ProcessEnv = {}) {
    this.child = spawn(launcher, ['client', target], {
      env: { ...process.env, GRPC_XDS_BOOTSTRAP: bootstrapFile, ...extraEnv },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    cleanup.add(() => stopProcess(this.child, 3000));
    // A client that died is reported by its exit; a write to its closed stdin must not crash the runner.
    this.child.stdin?.on('error', () => undefined);
    this.child.on('error', (error) => {
      this.exited = `could not start (${error.message})`;
      this.pending?.reject(new Error(`the client ${this.exited}`));
      this.pending = undefined;
    });
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (line) => this.onLine(line));
    (this.child.stderr as NodeJS.ReadableStream).on('data', (chunk: Buffer) => {
      appendFileSync(logFile, chunk);
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-4000);
    });
    this.child.on('exit', (code, signal) => {
      this.exited = `exited (${signal ?? code})`;
      this.pending?.reject(new Error(`the client ${this.exited}; its stderr ends with:\n${this.stderrTail.slice(-1500)}`));
      this.pending = undefined;
    });
  }

  /** The last lines the client library wrote to stderr (its own logs). */
  get stderr(): string {
    return this.stderrTail;
  }

  private onLine(line: string): void {
    let parsed: RpcResult & { done?: number; ready?: boolean };
    try {
      parsed = JSON.parse(line);
    } catch {
      return;
    }
    if (!this.pending || parsed.ready) return;
    if (parsed.done !== undefined) {
      const { results, resolve } = this.pending;
      this.pending = undefined;
      resolve(results);
      return;
    }
    this.pending.results.push(parsed);
  }

  /** Runs `count` RPCs one after another, each with its own deadline. */
  call(count: number, timeoutMs = 5000, payload = ''): Promise<RpcResult[]> {
    const next = this.queue.then(
      () =>
        new Promise<RpcResult[]>((resolve, reject) => {
          if (this.exited) {
            reject(new Error(`the client ${this.exited}; its stderr ends with:\n${this.stderrTail.slice(-1500)}`));
            return;
          }
          this.pending = { results: [], resolve, reject };
          this.child.stdin?.write(`call ${count} ${timeoutMs}${payload ? ` ${payload}` : ''}\n`);
        }),
    );
    this.queue = next.catch(() => undefined);
    return next;
  }

  async one(timeoutMs = 5000, payload = ''): Promise<RpcResult> {
    return (await this.call(1, timeoutMs, payload))[0] as RpcResult;
  }
}

/** A plain gRPC server of a given implementation (for cross-language tests). */
export async function startServer(
  launcher: string,
  name: string,
  cleanup: Cleanup,
  options: { port?: number; fail?: boolean; logFile?: string } = {},
): Promise<{ port: number; stop: () => Promise<void> }> {
  const child = spawn(launcher, ['server', '--port', String(options.port ?? 0), '--name', name, ...(options.fail ? ['--fail'] : [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stop = () => stopProcess(child, 3000);
  cleanup.add(stop);
  if (options.logFile) {
    const file = options.logFile;
    child.stderr?.on('data', (chunk: Buffer) => appendFileSync(file, chunk));
  }
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server ${name} (${launcher}) did not report its port in 60 s`)), 60_000);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const match = /"listening":\s*(\d+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server ${name} exited (${code}) before listening`));
    });
  });
  return { port, stop };
}

export function implementationLabel(implementation: ClientImplementation): string {
  return IMPLEMENTATIONS[implementation].title;
}
