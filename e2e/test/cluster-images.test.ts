/**
 * The cluster's images are assembled from files on this machine
 * (k8s/images/build.sh), not by a container engine from k8s/Containerfile —
 * no base-image registry is reachable here. These tests keep the two
 * equivalent: the meshcp image has the Containerfile's ENTRYPOINT, CMD, USER,
 * WORKDIR, EXPOSE and /app layout, and the app actually starts inside its
 * root filesystem (chroot, no engine); the Envoy image runs its Envoy.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IMAGES_SH, must, REPO } from './cluster-support.js';

interface ImageConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  User?: string;
  WorkingDir?: string;
  ExposedPorts?: Record<string, object>;
}

const work = mkdtempSync(join(tmpdir(), 'meshcp-image-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Unpacks an image archive: its config and its (single) layer as a directory. */
function unpack(archive: string, name: string): { config: ImageConfig; rootfs: string } {
  const dir = join(work, name);
  const rootfs = join(dir, 'rootfs');
  spawnSync('mkdir', ['-p', rootfs]);
  expect(spawnSync('tar', ['-xf', archive, '-C', dir]).status).toBe(0);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { Config: string; Layers: string[] }[];
  const entry = manifest[0];
  if (!entry) throw new Error(`${archive}: empty manifest`);
  expect(entry.Layers).toHaveLength(1);
  expect(spawnSync('tar', ['-xf', join(dir, entry.Layers[0] as string), '-C', rootfs]).status).toBe(0);
  const config = (JSON.parse(readFileSync(join(dir, entry.Config), 'utf8')) as { config: ImageConfig }).config;
  return { config, rootfs };
}

/** The final stage of k8s/Containerfile: its instructions, JSON arrays parsed. */
function containerfileFinalStage(): { entrypoint: string[]; cmd: string[]; user: string; workdir: string; expose: string[]; text: string } {
  const text = readFileSync(join(REPO, 'k8s', 'Containerfile'), 'utf8');
  const lines = text.split('\n');
  const lastFrom =
    lines
      .map((l, i) => (l.startsWith('FROM ') ? i : -1))
      .filter((i) => i >= 0)
      .pop() ?? 0;
  const final = lines.slice(lastFrom);
  const arg = (instruction: string): string =>
    final
      .find((l) => l.startsWith(`${instruction} `))
      ?.slice(instruction.length + 1)
      .trim() ?? '';
  return {
    entrypoint: JSON.parse(arg('ENTRYPOINT')) as string[],
    cmd: JSON.parse(arg('CMD')) as string[],
    user: arg('USER'),
    workdir: arg('WORKDIR'),
    expose: arg('EXPOSE').split(/\s+/),
    text,
  };
}

function chroot(rootfs: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('/usr/sbin/chroot', [rootfs, ...args], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' }, timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const isRoot = process.getuid?.() === 0;

describe('images built from local files', () => {
  it('the meshcp image is what k8s/Containerfile describes, and meshcp starts in it', async () => {
    const built = await must('bash', [IMAGES_SH, 'meshcp'], { timeoutMs: 600_000 });
    const [ref, archive] = built.stdout.trim().split(' ');
    expect(ref).toMatch(/^meshcp\.local\/meshcp:\d+\.\d+\.\d+-dev$/);
    const { config, rootfs } = unpack(archive as string, 'meshcp');
    const file = containerfileFinalStage();
    expect(config.Entrypoint).toEqual(file.entrypoint);
    expect(config.Cmd).toEqual(file.cmd);
    expect(config.User).toBe(file.user);
    expect(config.WorkingDir).toBe(file.workdir);
    expect(Object.keys(config.ExposedPorts ?? {}).sort()).toEqual(file.expose.map((p) => `${p}/tcp`).sort());

    // /app: what `npm install --omit=dev` of the packed packages makes (scripts/pack.mjs).
    expect(readdirSync(join(rootfs, 'app')).sort()).toEqual(['node_modules', 'package-lock.json', 'package.json']);
    const modules = readdirSync(join(rootfs, 'app', 'node_modules'));
    expect(modules).toEqual(expect.arrayContaining(['meshcp', '@meshcp', '@grpc']));
    expect(readdirSync(join(rootfs, 'app', 'node_modules', '@meshcp')).sort()).toEqual(['compat-matrix', 'k8s', 'translators', 'xds-protos']);
    // Production dependencies only.
    expect(modules).not.toContain('vitest');
    expect(modules).not.toContain('typescript');
    // The user exists (the distroless base has nonroot 65532).
    expect(readFileSync(join(rootfs, 'etc', 'passwd'), 'utf8')).toMatch(/^nonroot:x:65532:65532:/m);

    if (!isRoot) return; // chroot needs root
    const version = chroot(rootfs, ['/nodejs/bin/node', '--version']);
    expect(version.stdout).toMatch(/^v24\./); // the Containerfile's base is nodejs24
    const help = chroot(rootfs, [...file.entrypoint, '--help']);
    expect(help.stdout + help.stderr).toContain('meshcp serve');
    const bootstrap = chroot(rootfs, [...file.entrypoint, 'bootstrap', '--node-id', 'a', '--service', 's', '--namespace', 'n']);
    expect(bootstrap.status, bootstrap.stderr).toBe(0);
    expect(bootstrap.stdout).toContain('meshcp-xds');
  }, 600_000);

  it('the Envoy sidecar image holds the same Envoy as the compat matrix and runs it', async () => {
    const built = await must('bash', [IMAGES_SH, 'envoy@1.40.0'], { timeoutMs: 600_000 });
    const [ref, archive] = built.stdout.trim().split(' ');
    expect(ref).toBe('meshcp.local/envoy:v1.40.0');
    const { config, rootfs } = unpack(archive as string, 'envoy');
    expect(config.Entrypoint).toEqual(['/usr/local/bin/envoy']);
    expect(config.User).toBe('101:101');
    const fetched = (await must('bash', [join(REPO, 'compat-matrix', 'scripts', 'fetch-envoy.sh'), '1.40.0'])).stdout.trim();
    expect(readFileSync(join(rootfs, 'usr', 'local', 'bin', 'envoy')).equals(readFileSync(fetched))).toBe(true);
    if (!isRoot) return;
    expect(chroot(rootfs, ['/usr/local/bin/envoy', '--version']).stdout).toMatch(/version: [0-9a-f]+\/1\.40\.0\//);
  }, 600_000);
});
