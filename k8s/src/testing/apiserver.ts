/**
 * A real kube-apiserver + etcd for tests, run by k8s/scripts/start-apiserver.sh
 * in a temp dir and stopped by stop-apiserver.sh, plus the kubectl and helm
 * binaries from install-kube-tools.sh. Test code, shipped in src so that e2e
 * tests can use it too.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeClient } from '../client.js';

/** k8s/scripts, from k8s/src/testing (vitest) or k8s/dist/testing (built). */
export const K8S_SCRIPTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts');

export interface CommandResult {
  status: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], input?: string, env?: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { env: env ?? process.env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? ((error as { code?: unknown }).code ?? 1) : 0;
      resolve({ status: typeof code === 'number' ? code : 1, stdout: String(stdout), stderr: String(stderr) });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

let toolPaths: { kubectl: string; helm: string } | undefined;

export function kubeTools(): { kubectl: string; helm: string } {
  if (toolPaths) return toolPaths;
  const result = spawnSync('bash', [join(K8S_SCRIPTS, 'install-kube-tools.sh')], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`install-kube-tools.sh failed: ${result.stderr}`);
  const [kubectl, helm] = result.stdout.trim().split('\n');
  if (!kubectl || !helm) throw new Error(`install-kube-tools.sh printed ${result.stdout}`);
  toolPaths = { kubectl, helm };
  return toolPaths;
}

export class TestApiServer {
  readonly kubeconfig: string;
  /** Seconds the last start took (script start to /readyz ok). */
  lastStartSeconds = 0;

  private constructor(readonly dir: string) {
    this.kubeconfig = join(dir, 'kubeconfig');
  }

  /** Starts etcd + kube-apiserver in a new temp dir (building them first if not cached). */
  static async start(): Promise<TestApiServer> {
    const server = new TestApiServer(mkdtempSync(join(tmpdir(), 'meshcp-apiserver-')));
    await server.startAgain();
    return server;
  }

  /** (Re)starts kube-apiserver on the same dir, ports and data (and etcd, if it was stopped). */
  async startAgain(): Promise<void> {
    const started = Date.now();
    const result = await run('bash', [join(K8S_SCRIPTS, 'start-apiserver.sh'), this.dir], undefined, undefined, 900_000);
    if (result.status !== 0) throw new Error(`start-apiserver.sh failed: ${result.stderr}`);
    this.lastStartSeconds = (Date.now() - started) / 1000;
  }

  /**
   * Stops kube-apiserver (and etcd unless keepEtcd). The dir and its data stay.
   * `graceSeconds`: how long SIGTERM may take before SIGKILL (the script's default
   * is 30 s; kube-apiserver has been seen to use all of it while clients hold
   * watches open, so tests that only need "gone" pass a few seconds).
   */
  async stop(options: { keepEtcd?: boolean; graceSeconds?: number } = {}): Promise<void> {
    const args = [join(K8S_SCRIPTS, 'stop-apiserver.sh'), this.dir];
    if (options.keepEtcd) args.push('--keep-etcd');
    const env = options.graceSeconds === undefined ? undefined : { ...process.env, MESHCP_APISERVER_STOP_TIMEOUT: String(options.graceSeconds) };
    const result = await run('bash', args, undefined, env);
    if (result.status !== 0) throw new Error(`stop-apiserver.sh failed: ${result.stderr}`);
  }

  /** Stops everything and removes the dir. */
  async destroy(): Promise<void> {
    await this.stop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  env(): Record<string, string> {
    const env: Record<string, string> = {};
    for (const line of readFileSync(join(this.dir, 'env'), 'utf8').split('\n')) {
      const at = line.indexOf('=');
      if (at > 0) env[line.slice(0, at)] = line.slice(at + 1);
    }
    return env;
  }

  client(): KubeClient {
    return KubeClient.fromKubeconfig(this.kubeconfig);
  }

  kubectl(args: string[], input?: string): Promise<CommandResult> {
    return run(kubeTools().kubectl, ['--kubeconfig', this.kubeconfig, '--request-timeout=20s', ...args], input);
  }

  /** kubectl that must succeed; returns stdout. */
  async kubectlOk(args: string[], input?: string): Promise<string> {
    const result = await this.kubectl(args, input);
    if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${result.status}): ${result.stderr}${result.stdout}`);
    return result.stdout;
  }

  helm(args: string[]): Promise<CommandResult> {
    // helm keeps caches and config under HOME-derived paths; keep them in the test dir.
    const env = {
      ...process.env,
      HELM_CACHE_HOME: join(this.dir, 'helm', 'cache'),
      HELM_CONFIG_HOME: join(this.dir, 'helm', 'config'),
      HELM_DATA_HOME: join(this.dir, 'helm', 'data'),
    };
    return run(kubeTools().helm, ['--kubeconfig', this.kubeconfig, ...args], undefined, env);
  }

  /** The current etcd revision (the newest resourceVersion). */
  async etcdRevision(): Promise<number> {
    const response = await fetch(`${this.env().MESHCP_ETCD_URL}/v3/kv/range`, {
      method: 'POST',
      body: JSON.stringify({ key: Buffer.from('/').toString('base64') }),
    });
    const body = (await response.json()) as { header?: { revision?: string } };
    return Number(body.header?.revision);
  }

  /** Compacts etcd history up to `revision`: watches from older resourceVersions then get 410 Gone. */
  async compactEtcd(revision: number): Promise<void> {
    const response = await fetch(`${this.env().MESHCP_ETCD_URL}/v3/kv/compaction`, {
      method: 'POST',
      body: JSON.stringify({ revision: String(revision), physical: true }),
    });
    if (!response.ok) throw new Error(`etcd compaction failed: HTTP ${response.status} ${await response.text()}`);
  }
}
