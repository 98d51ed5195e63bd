/**
 * A fleet of real Envoys of three releases: `meshcp status --xds-address` prints each from
 * CSDS with its version, profile and per-type state, /metrics counts them by version, and a
 * model change is observed in the convergence histogram once every Envoy has ACKed it.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ControlPlane } from 'meshcp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup, MESHCP_BIN, meshYaml, startEnvoy, startUpstream, tempDir, type Upstream, waitFor } from '../src/harness.js';

const FLEET = [
  { nodeId: 'fleet-136', version: '1.36.4', delta: true },
  { nodeId: 'fleet-138', version: '1.38.3', delta: false },
  { nodeId: 'fleet-140', version: '1.40.0', delta: false },
];

describe('fleet status from CSDS with real Envoys of three releases', () => {
  const cleanup = new Cleanup();
  let plane: ControlPlane;
  let file: string;
  let upstream: Upstream;

  const status = async () =>
    (await promisify(execFile)(process.execPath, [MESHCP_BIN, 'status', '--xds-address', `127.0.0.1:${plane.xdsPort}`], { encoding: 'utf8' })).stdout;
  const metric = async (name: string, labels: Record<string, string>) => {
    const metrics = await plane.metrics.registry.getMetricsAsJSON();
    const values =
      (metrics.find((m) => m.name === name) as { values?: { labels: Record<string, unknown>; value: number; metricName?: string }[] })?.values ?? [];
    return values.filter((v) => Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val));
  };

  beforeAll(async () => {
    upstream = await startUpstream('echo', cleanup);
    file = join(tempDir('fleet', cleanup), 'mesh.yaml');
    writeFileSync(file, meshYaml([{ name: 'echo', endpoints: [{ port: upstream.port }] }]));
    plane = new ControlPlane({ file, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', debounceQuietMs: 20, debounceMaxMs: 200 });
    await plane.start();
    cleanup.add(() => plane.stop());
    await Promise.all(FLEET.map((p) => startEnvoy({ xdsPort: plane.xdsPort, nodeId: p.nodeId, version: p.version, delta: p.delta }, cleanup)));
    await waitFor(
      'every Envoy SYNCED on every type',
      async () => (await status()).split('\n').filter((l) => /SYNCED\s+SYNCED\s+SYNCED\s+SYNCED/.test(l)).length === 3,
    );
  }, 120_000);

  afterAll(() => cleanup.run());

  it('prints each Envoy with its version, profile and per-type status', async () => {
    const lines = (await status()).trim().split('\n');
    expect(lines[0]).toMatch(/^NODE\s+VERSION\s+PROFILE\s+MODE\s+CDS\s+EDS\s+LDS\s+RDS\s+SDS$/);
    for (const proxy of FLEET) {
      const line = lines.find((l) => l.startsWith(`${proxy.nodeId} `));
      expect(line, proxy.nodeId).toMatch(
        new RegExp(
          `^${proxy.nodeId}\\s+${proxy.version.replaceAll('.', '\\.')}\\s+envoy-\\S+\\s+${proxy.delta ? 'delta' : 'sotw'}\\s+SYNCED\\s+SYNCED\\s+SYNCED\\s+SYNCED\\s+-$`,
        ),
      );
    }
    // Each release gets the profile admission chose for it (the admin API says the same).
    const { proxies } = (await (await fetch(`http://127.0.0.1:${plane.adminPort}/debug/proxies`)).json()) as { proxies: { nodeId: string; profile: string }[] };
    for (const proxy of proxies) expect(lines.find((l) => l.startsWith(`${proxy.nodeId} `))).toContain(` ${proxy.profile} `);
  });

  it('counts the fleet by version, and observes convergence of a change on every Envoy', async () => {
    for (const proxy of FLEET) expect((await metric('meshcp_proxies', { version: proxy.version }))[0]?.value).toBe(1);
    const count = async () => (await metric('meshcp_proxy_convergence_seconds', { type: 'CDS' })).find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
    const before = await count();
    const second = await startUpstream('echo-2', cleanup);
    writeFileSync(
      file,
      meshYaml([
        { name: 'echo', endpoints: [{ port: upstream.port }] },
        { name: 'other', endpoints: [{ port: second.port }] },
      ]),
    );
    await waitFor('every Envoy ACKed the new clusters', async () => (await count()) >= before + FLEET.length);
    // CDS ACKed first; the other types follow (ADS order), so every stream settles SYNCED a moment later.
    await waitFor('every stream SYNCED on every type', async () =>
      (await metric('meshcp_proxy_streams', { state: 'SYNCED' }))[0]?.value === FLEET.length ? true : undefined,
    );
  }, 60_000);
});
