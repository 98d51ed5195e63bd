/**
 * A resource that passes validation but Envoy rejects — a second listener on the
 * outbound listener's address — shows as NACKED with Envoy's own error text, Envoy
 * keeps routing on the previous config, and the rejected version is not re-sent.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LISTENER } from '@meshcp/xds-protos';
import { ControlPlane } from 'meshcp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup, type EnvoyProcess, envoyClusterHosts, meshYaml, startEnvoy, startUpstream, tempDir, type Upstream, waitFor } from '../src/harness.js';

interface TypeView {
  short: string;
  status: string;
  sentVersion: string | null;
  ackedVersion: string | null;
  lastNack: { version: string; error: string } | null;
}

describe('NACK handling with a real Envoy', () => {
  const cleanup = new Cleanup();
  let plane: ControlPlane;
  let envoy: EnvoyProcess;
  let file: string;
  let first: Upstream;
  let second: Upstream;

  async function types(): Promise<Record<string, TypeView>> {
    const response = await fetch(`http://127.0.0.1:${plane.adminPort}/debug/proxies`);
    const { proxies } = (await response.json()) as { proxies: { nodeId: string; types: Record<string, TypeView> }[] };
    return Object.fromEntries(Object.values(proxies.find((p) => p.nodeId === 'nack-test')?.types ?? {}).map((t) => [t.short, t]));
  }

  async function ldsResponsesSent(): Promise<number> {
    const metric = await plane.metrics.responses.get();
    return metric.values.filter((v) => v.labels.type === 'LDS').reduce((sum, v) => sum + v.value, 0);
  }

  beforeAll(async () => {
    first = await startUpstream('first', cleanup);
    second = await startUpstream('second', cleanup);
    file = join(tempDir('nack', cleanup), 'mesh.yaml');
    writeFileSync(file, meshYaml([{ name: 'echo', endpoints: [{ port: first.port }] }]));
    plane = new ControlPlane({ file, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', debounceQuietMs: 20, debounceMaxMs: 200 });
    await plane.start();
    cleanup.add(() => plane.stop());
    envoy = await startEnvoy({ xdsPort: plane.xdsPort, nodeId: 'nack-test' }, cleanup);
    await waitFor('every type SYNCED', async () => {
      const t = await types();
      return ['CDS', 'EDS', 'LDS', 'RDS'].every((k) => t[k]?.status === 'SYNCED');
    });
  });

  afterAll(() => cleanup.run());

  it('records the NACK with Envoy’s error, keeps routing, and does not loop', async () => {
    const before = await types();
    expect(before.LDS?.ackedVersion).toBeTruthy();
    plane.cache.setResourceHook((typeUrl, resources) => {
      if (typeUrl !== LISTENER) return resources;
      const original = resources[0] as Record<string, unknown>;
      return [...resources, { ...original, name: 'duplicate-of-outbound' }];
    });
    const nacked = await waitFor('LDS to be NACKED in /debug/proxies', async () => {
      const t = await types();
      return t.LDS?.status === 'NACKED' && t.LDS;
    });
    // Envoy's own words, e.g. "... has duplicate address '127.0.0.1:PORT' as existing listener".
    expect(nacked.lastNack?.error).toContain(`127.0.0.1:${envoy.outboundPort}`);
    expect(nacked.lastNack?.error).toMatch(/duplicate/i);
    expect(nacked.ackedVersion).toBe(before.LDS?.ackedVersion);
    expect(Number(/listener_manager\.lds\.update_rejected: (\d+)/.exec(await envoy.admin('/stats?filter=lds.update_rejected'))?.[1])).toBe(1);
    expect(await envoy.request('echo.shop', '/')).toEqual({ status: 200, body: 'first' });

    // An endpoint change flows (EDS) while the rejected LDS version is not re-sent.
    const ldsSent = await ldsResponsesSent();
    writeFileSync(file, meshYaml([{ name: 'echo', endpoints: [{ port: first.port }, { port: second.port }] }]));
    await waitFor('Envoy to receive the new endpoint', async () => (await envoyClusterHosts(envoy)).get('echo.shop:8080')?.length === 2);
    await waitFor('EDS SYNCED', async () => (await types()).EDS?.status === 'SYNCED');
    expect(await ldsResponsesSent()).toBe(ldsSent);
    expect((await types()).LDS?.status).toBe('NACKED');

    // Removing the fault produces a new version, which Envoy accepts.
    plane.cache.setResourceHook(undefined);
    await waitFor('LDS SYNCED after the fault is removed', async () => (await types()).LDS?.status === 'SYNCED');
    expect(Number(/listener_manager\.lds\.update_rejected: (\d+)/.exec(await envoy.admin('/stats?filter=lds.update_rejected'))?.[1])).toBe(1);
    const metrics = await (await fetch(`http://127.0.0.1:${plane.adminPort}/metrics`)).text();
    expect(metrics).toMatch(/meshcp_xds_nacks_total\{type="LDS",proxy_version="[^"]+"\} 1/);
  });
});
