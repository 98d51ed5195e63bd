/**
 * Helpers for the tests that run meshcp in the real local cluster
 * (k8s/scripts/cluster.sh): running the scripts, kubectl/helm against the
 * cluster, and a snapshot of everything on the host the cluster may touch, so a
 * test can prove `down` left the host as `up` found it.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLUSTER_SH = join(REPO, 'k8s', 'scripts', 'cluster.sh');
export const IMAGES_SH = join(REPO, 'k8s', 'images', 'build.sh');
export const CLUSTER_STATE = '/var/lib/meshcp-cluster';
export const CLUSTER_RUN = '/run/meshcp-cluster';
export const CLUSTER_BRIDGE = 'meshcp0';

export interface Result {
  status: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

export function run(command: string, args: string[], options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = execFile(
      command,
      args,
      { timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024, env: options.env ?? process.env },
      (error, stdout, stderr) => {
        const code = error ? ((error as { code?: unknown }).code ?? 1) : 0;
        resolve({ status: typeof code === 'number' ? code : 1, stdout: String(stdout), stderr: String(stderr), seconds: (Date.now() - started) / 1000 });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

export async function must(command: string, args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<Result> {
  const result = await run(command, args, options);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}):\n${result.stderr}\n${result.stdout}`);
  return result;
}

/**
 * Why this machine cannot run a cluster, or undefined when it can. Only hard
 * impossibilities count (not root, packages that are not installed); anything
 * else is a failure the test must show.
 */
export function clusterUnsupportedReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: containerd, kubelet and iptables need root';
  const missing = ['containerd', 'containerd-shim-runc-v2', 'runc', 'ctr', 'iptables', 'go'].filter(
    (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0,
  );
  if (!existsSync('/usr/lib/cni/bridge')) missing.push('containernetworking-plugins (/usr/lib/cni/bridge)');
  if (!existsSync('/bin/busybox')) missing.push('busybox-static');
  return missing.length > 0
    ? `missing: ${missing.join(', ')} (apt-get install containerd runc containernetworking-plugins iptables busybox-static; Go)`
    : undefined;
}

/** The cluster's kubectl and helm, with its kubeconfig. */
export class ClusterTools {
  constructor(
    readonly kubectlPath: string,
    readonly helmPath: string,
    readonly kubeconfig: string,
  ) {}

  kubectl(args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<Result> {
    return run(this.kubectlPath, ['--kubeconfig', this.kubeconfig, ...args], options);
  }

  async kubectlOk(args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    return (await must(this.kubectlPath, ['--kubeconfig', this.kubeconfig, ...args], options)).stdout;
  }

  async helmOk(args: string[], timeoutMs = 300_000): Promise<string> {
    return (await must(this.helmPath, ['--kubeconfig', this.kubeconfig, ...args], { timeoutMs })).stdout;
  }
}

/** Everything on the host the cluster may change, as sorted text lines. */
export function hostSnapshot(): Record<string, string[]> {
  const sh = (script: string): string[] => (spawnSync('sh', ['-c', script], { encoding: 'utf8' }).stdout ?? '').split('\n').filter(Boolean).sort();
  const read = (path: string): string => (existsSync(path) ? readFileSync(path, 'utf8').trim() : '(absent)');
  return {
    // Chains kubelet, kube-proxy and cluster.sh create (others' rules are not ours to judge).
    iptablesChains: sh(
      "for c in iptables ip6tables; do for t in filter nat mangle raw; do $c -t $t -S 2>/dev/null | awk -v c=$c -v t=$t '$2 ~ /^(KUBE-|MESHCP-)/ || / -j (KUBE-|MESHCP-)/ { print c, t, $0 }'; done; done",
    ),
    links: sh(`ip -o link show | awk -F': ' '{ print $2 }' | grep -E '^(${CLUSTER_BRIDGE}|cni0)' || true`),
    mounts: sh(`awk '$5 ~ /meshcp-cluster|\\/run\\/netns\\/cni-/ { print $5 }' /proc/self/mountinfo`),
    netns: existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith('cni-')) : [],
    paths: [CLUSTER_STATE, CLUSTER_RUN, '/var/lib/kubelet', '/etc/cni/net.d', '/var/log/pods', '/var/log/containers'].filter((p) => existsSync(p)),
    sysctls: [`ip_forward=${read('/proc/sys/net/ipv4/ip_forward')}`, `bridge-nf-call-iptables=${read('/proc/sys/net/bridge/bridge-nf-call-iptables')}`],
    // Processes running a cluster binary (from the k8s cache) or containerd with the cluster's config.
    processes: sh(
      `for p in /proc/[0-9]*; do exe=$(readlink $p/exe 2>/dev/null) || continue; case "$exe" in */meshcp/k8s/*|*containerd*) tr '\\0' ' ' < $p/cmdline | grep -q meshcp-cluster && echo "$exe"; esac; done; true`,
    ),
    cgroups: sh('ls -d /sys/fs/cgroup/*/kubepods 2>/dev/null; true'),
  };
}
