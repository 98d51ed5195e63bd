/**
 * `meshcp status PROXY` against a real Envoy: its resources from CSDS, and a diff
 * against what meshcp would send it now — none while it is in sync; the refused
 * resource, with Envoy's reason, once it NACKs an update (a planted duplicate
 * listener, as nack.test.ts); none again once the fault is gone. With the proxy's Envoy
 * admin (--proxy-admin), a resource Envoy holds stale lists the fields that differ.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { LISTENER } from '@meshcp/xds-protos';
import { proxyHeldConfig, resourceFieldDiff, type ServedNow } from 'meshcp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup, type EnvoyProcess, MESHCP_BIN, meshYaml, startEnvoy, startUpstream, waitFor } from '../src/harness.js';
import { startPlane, type TestPlane } from '../src/plane.js';

describe('meshcp status PROXY (CSDS detail and diff) against a real Envoy', () => {
  const cleanup = new Cleanup();
  let test: TestPlane;
  let envoy: EnvoyProcess;

  async function status(proxy: string, ...extra: string[]): Promise<string> {
    const { stdout } = await promisify(execFile)(process.execPath, [
      MESHCP_BIN,
      'status',
      proxy,
      '--xds-address',
      `127.0.0.1:${test.plane.xdsPort}`,
      '--admin-address',
      `127.0.0.1:${test.plane.adminPort}`,
      ...extra,
    ]);
    return stdout;
  }

  beforeAll(async () => {
    const echo = await startUpstream('echo', cleanup);
    test = await startPlane(meshYaml([{ name: 'echo', endpoints: [{ port: echo.port }] }]), cleanup);
    envoy = await startEnvoy({ xdsPort: test.plane.xdsPort, nodeId: 'web-1', service: 'web', namespace: 'shop' }, cleanup);
    await waitFor('every type SYNCED', async () => {
      const t = await test.types('web-1');
      return ['CDS', 'EDS', 'LDS', 'RDS'].every((k) => t[k]?.status === 'SYNCED');
    });
  });

  afterAll(() => cleanup.run());

  it('in sync: every resource SYNCED, no diff', async () => {
    const out = await status('web-1');
    expect(out).toMatch(/^proxy web-1 {2}version 1\.\d+\.\d+ {2}profile envoy-\S+ {2}mode sotw/);
    expect(out).toMatch(/^CDS +echo\.shop:8080 +\S{12} +SYNCED$/m);
    expect(out).toMatch(/^EDS +echo\.shop:8080 +\S{12} +SYNCED$/m);
    expect(out).toMatch(new RegExp(`^LDS +outbound:${envoy.outboundPort} +\\S{12} +SYNCED$`, 'm'));
    expect(out).toMatch(new RegExp(`^RDS +outbound:${envoy.outboundPort} +\\S{12} +SYNCED$`, 'm'));
    expect(out).toMatch(/diff against what meshcp would send now: none \(4 resources in sync\)/);
  });

  it('in sync, Envoy’s own copy of every resource reads field for field as what meshcp sends (no spelling differences)', async () => {
    const held = proxyHeldConfig(JSON.parse(await envoy.admin('/config_dump?include_eds')));
    const dump = (await (await fetch(`http://127.0.0.1:${test.plane.adminPort}/debug/config_dump?proxy=web-1`)).json()) as { resources: ServedNow };
    const compared: string[] = [];
    for (const [type, list] of Object.entries(dump.resources)) {
      for (const resource of list) {
        const key = `${type}\u0000${resource.name}`;
        if (!held.has(key)) continue;
        compared.push(`${type} ${resource.name}`);
        expect(resourceFieldDiff(type, held.get(key), resource.resource), `${type} ${resource.name}`).toEqual([]);
      }
    }
    expect(compared.sort()).toEqual(['CDS echo.shop:8080', 'EDS echo.shop:8080', `LDS outbound:${envoy.outboundPort}`, `RDS outbound:${envoy.outboundPort}`]);
  });

  it('a refused update shows as NACKED with Envoy’s words, and the diff names the resource meshcp would send', async () => {
    test.plane.cache.setResourceHook((typeUrl, resources) => {
      if (typeUrl !== LISTENER) return resources;
      return [...resources, { ...(resources[0] as Record<string, unknown>), name: 'duplicate-of-outbound' }];
    });
    await waitFor('LDS NACKED', async () => (await test.types('web-1')).LDS?.status === 'NACKED');
    const out = await status('web-1');
    expect(out).toMatch(new RegExp(`^LDS +outbound:${envoy.outboundPort} +\\S{12} +NACKED$`, 'm'));
    expect(out).toMatch(/^LDS NACKED: .*duplicate/im);
    expect(out).toMatch(
      /diff against what meshcp would send now \(1\):\n {2}\+ LDS duplicate-of-outbound {2}now \S{12} {2}\(the proxy refused the last LDS update\)/,
    );
    // What Envoy itself holds agrees: that listener is in error, never active.
    const dump = JSON.parse(await envoy.admin('/config_dump?resource=dynamic_listeners')) as {
      configs: { name: string; active_state?: unknown; error_state?: unknown }[];
    };
    const refused = dump.configs.find((c) => c.name === 'duplicate-of-outbound');
    expect(refused?.error_state).toBeDefined();
    expect(refused?.active_state).toBeUndefined();

    test.plane.cache.setResourceHook(undefined);
    await waitFor('LDS SYNCED again', async () => (await test.types('web-1')).LDS?.status === 'SYNCED');
    expect(await status('web-1')).toMatch(/diff against what meshcp would send now: none/);
  });

  it('with the proxy’s admin, a stale resource lists the fields that differ, held → now', async () => {
    // meshcp now puts a second router filter first in the outbound listener: Envoy refuses that
    // listener (the router must be last) and keeps the one it had; meshcp would send the changed one.
    test.plane.cache.setResourceHook((typeUrl, resources) => {
      if (typeUrl !== LISTENER) return resources;
      const [outbound, ...rest] = resources as Record<string, unknown>[];
      const changed = structuredClone(outbound) as { filter_chains: { filters: { typed_config: { http_filters: { name: string }[] } }[] }[] };
      const hcm = changed.filter_chains[0]?.filters[0]?.typed_config;
      if (hcm) hcm.http_filters = [{ ...(hcm.http_filters.at(-1) as { name: string }), name: 'extra-router' }, ...hcm.http_filters];
      return [changed, ...rest];
    });
    await waitFor('LDS NACKED', async () => (await test.types('web-1')).LDS?.status === 'NACKED');
    const out = await status('web-1', '--proxy-admin', `127.0.0.1:${envoy.adminPort}`);
    expect(out).toMatch(
      new RegExp(`^ {2}~ LDS outbound:${envoy.outboundPort} {2}held \\S{12} → now \\S{12} {2}\\(the proxy refused the last LDS update\\)$`, 'm'),
    );
    // Envoy holds no such filter; meshcp would send it — the one field that differs, its value cut short.
    const fieldLines = out.split('\n').filter((line) => line.startsWith('      '));
    expect(fieldLines).toEqual([
      expect.stringMatching(
        /^ {6}filter_chains\[0\]\.filters\[envoy\.filters\.network\.http_connection_manager\]\.typed_config\.http_filters\[extra-router\]: \(none\) → \{"name":"extra-router",.{0,40}…$/,
      ),
    ]);
    // What Envoy itself holds agrees: the listener it serves has no such filter (only the refused one has).
    const listeners = JSON.parse(await envoy.admin('/config_dump?resource=dynamic_listeners')) as {
      configs: { name: string; active_state?: unknown; error_state?: unknown }[];
    };
    const served = listeners.configs.find((c) => c.name === `outbound:${envoy.outboundPort}`);
    expect(JSON.stringify(served?.active_state)).not.toContain('extra-router');
    expect(JSON.stringify(served?.error_state)).toContain('extra-router');
    // Without the proxy's admin the diff says how to see the fields.
    expect(await status('web-1')).toMatch(/give --proxy-admin HOST:PORT/);

    test.plane.cache.setResourceHook(undefined);
    await waitFor('LDS SYNCED again', async () => (await test.types('web-1')).LDS?.status === 'SYNCED');
    expect(await status('web-1', '--proxy-admin', `127.0.0.1:${envoy.adminPort}`)).toMatch(/diff against what meshcp would send now: none/);
  });

  it('a refused response whose other listener Envoy applied anyway: the field diff says the proxy holds it', async () => {
    // Envoy takes SotW listeners one by one: the changed outbound listener is applied, only the
    // duplicate is refused. CSDS (a NACK undoes the whole response) still reports the old version.
    test.plane.cache.setResourceHook((typeUrl, resources) => {
      if (typeUrl !== LISTENER) return resources;
      const [outbound, ...rest] = resources as Record<string, unknown>[];
      const changed = { ...outbound, per_connection_buffer_limit_bytes: 65536 };
      return [changed, ...rest, { ...changed, name: 'duplicate-of-outbound' }];
    });
    await waitFor('LDS NACKED', async () => (await test.types('web-1')).LDS?.status === 'NACKED');
    const out = await status('web-1', '--proxy-admin', `127.0.0.1:${envoy.adminPort}`);
    expect(out).toMatch(new RegExp(`^ {2}~ LDS outbound:${envoy.outboundPort} {2}held \\S{12} → now \\S{12}`, 'm'));
    expect(out).toMatch(/^ {6}\(the proxy holds this content: it applied this resource from the response it refused\)$/m);
    const listeners = JSON.parse(await envoy.admin('/config_dump?resource=dynamic_listeners')) as {
      configs: { name: string; active_state?: { listener?: { per_connection_buffer_limit_bytes?: number } } }[];
    };
    expect(listeners.configs.find((c) => c.name === `outbound:${envoy.outboundPort}`)?.active_state?.listener?.per_connection_buffer_limit_bytes).toBe(65536);

    test.plane.cache.setResourceHook(undefined);
    await waitFor('LDS SYNCED again', async () => (await test.types('web-1')).LDS?.status === 'SYNCED');
  });

  it('an unknown proxy is an error naming it', async () => {
    await expect(status('nobody-1')).rejects.toThrow(/no connected proxy with node id "nobody-1"/);
  });
});
