/**
 * One version for everything released together: every workspace package, the pins
 * between them, `meshcp --version`, and the Helm chart (version and appVersion). And one
 * Node.js: the `engines` floor, the image's runtime and scripts/node.sh agree.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
interface Manifest {
  name: string;
  version?: string;
  private?: boolean;
  engines?: { node?: string };
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  files?: string[];
}
const readJson = (path: string): Manifest => JSON.parse(readFileSync(join(repo, path), 'utf8'));
const root = readJson('package.json') as Manifest & { workspaces: string[] };
const workspaces = root.workspaces.map((dir) => ({ dir, manifest: readJson(`${dir}/package.json`) }));
const meshcp = readJson('control-plane/package.json');
const version = meshcp.version as string;
const nodeMajor = (root.engines?.node ?? '').match(/^>=(\d+)$/)?.[1];

describe('package versions', () => {
  it('every workspace has meshcp’s version, and pins its siblings to it', () => {
    expect(version).toMatch(/^\d+\.\d+\.\d+(-[\w.]+)?$/);
    const names = new Set(workspaces.map((w) => w.manifest.name));
    for (const { dir, manifest } of workspaces) {
      expect(manifest.version, dir).toBe(version);
      for (const [dep, range] of Object.entries({ ...manifest.dependencies, ...manifest.devDependencies })) {
        if (names.has(dep)) expect(range, `${dir} → ${dep}`).toBe(version);
      }
    }
  });

  it('published packages declare their files and the Node.js floor', () => {
    const published = workspaces.filter((w) => !w.manifest.private);
    expect(published.map((w) => w.manifest.name).sort()).toEqual([
      '@meshcp/compat-matrix',
      '@meshcp/k8s',
      '@meshcp/translators',
      '@meshcp/xds-protos',
      'meshcp',
    ]);
    for (const { dir, manifest } of published) {
      expect(manifest.files, dir).toContain('dist');
      expect(manifest.engines?.node, dir).toBe(root.engines?.node);
      // A published package cannot depend on an unpublished one.
      for (const dep of Object.keys(manifest.dependencies ?? {})) {
        const sibling = workspaces.find((w) => w.manifest.name === dep);
        if (sibling) expect(sibling.manifest.private, `${dir} → ${dep}`).not.toBe(true);
      }
    }
  });

  it('`meshcp --version` prints the package version', () => {
    const printed = execFileSync(process.execPath, [join(repo, 'control-plane', 'bin', 'meshcp.js'), '--version'], { encoding: 'utf8' });
    expect(printed).toBe(`${version}\n`);
  });

  it('the Helm chart carries the same version (and so the image tag it defaults to)', () => {
    const text = readFileSync(join(repo, 'k8s', 'chart', 'meshcp', 'Chart.yaml'), 'utf8');
    expect(text).toMatch(new RegExp(`^version:\\s*"?${version.replaceAll('.', '\\.')}"?\\s*$`, 'm'));
    expect(text).toMatch(new RegExp(`^appVersion:\\s*"?${version.replaceAll('.', '\\.')}"?\\s*$`, 'm'));
  });
});

describe('Node.js', () => {
  it('engines, the image, CI set-up and the test runner agree on a supported LTS', () => {
    expect(Number(nodeMajor)).toBeGreaterThanOrEqual(24);
    expect(readFileSync(join(repo, 'k8s', 'Containerfile'), 'utf8')).toMatch(new RegExp(`distroless/nodejs${nodeMajor}-`));
    expect(readFileSync(join(repo, 'scripts', 'node.sh'), 'utf8')).toMatch(new RegExp(`MESHCP_NODE_VERSION:-${nodeMajor}\\.`));
    expect(readFileSync(join(repo, '.github', 'workflows', 'release.yml'), 'utf8')).toMatch(new RegExp(`node-version: '${nodeMajor}'`));
    // The suite itself runs on it (scripts/test.sh puts it first on PATH).
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(Number(nodeMajor));
  });
});
