/**
 * An EDS response a real Envoy rejects (an endpoint address that is no IP: "malformed
 * IP address", which meshcp's schema validation lets through) stays reported NACKED after Envoy ACKs later EDS responses for
 * other clusters: Envoy keeps the old endpoints of the rejected cluster, so neither
 * /debug/proxies nor CSDS may say SYNCED until a newer version of it is accepted.
 *
 * It also exercises Envoy's own request pattern after a NACK (GrpcMuxImpl keeps the
 * rejected response's nonce and clears error_detail): a new cluster makes Envoy ask
 * for its endpoints with that nonce, which must not count as an ACK.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENDPOINT } from '@meshcp/xds-protos';
import { ControlPlane } from 'meshcp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup, type EnvoyProcess, envoyClusterHosts, meshYaml, startEnvoy, startUpstream, tempDir, type Upstream, waitFor } from '../src/harness.js';

interface TypeView {
  short: string;
  status: string;
  sentVersion: string | null;
  ackedVersion: string | null;
  lastNack: { version: string; error: string } | null;
  rejectedResources: { name: string; version: string; error: string }[];
}

/** The EDS entry of `nodeId` at the admin API's /debug/proxies. */
async function edsView(adminPort: number, nodeId: string): Promise<(TypeView & { suspectResources: { name: string }[] }) | undefined> {
  const response = await fetch(`http://127.0.0.1:${adminPort}/debug/proxies`);
  const { proxies } = (await response.json()) as { proxies: { nodeId: string; types: Record<string, TypeView & { suspectResources: { name: string }[] }> }[] };
  return Object.values(proxies.find((p) => p.nodeId === nodeId)?.types ?? {}).find((t) => t.short === 'EDS');
}

const ECHO = 'echo.shop:8080';
const OTHER = 'other.shop:8080';

describe('EDS NACK with a real Envoy: the rejected cluster stays NACKED after later ACKs', () => {
  const cleanup = new Cleanup();
  let plane: ControlPlane;
  let envoy: EnvoyProcess;
  let file: string;
  let first: Upstream;
  let second: Upstream;
  let third: Upstream;

  const eds = () => edsView(plane.adminPort, 'nack-eds');

  async function edsRejectedByEnvoy(cluster: string): Promise<number> {
    const stats = await envoy.admin('/stats?filter=update_rejected');
    // Envoy's stat name spells the cluster's ':' as '_'.
    const line = stats.split('\n').find((l) => l.startsWith(`cluster.${cluster.replace(':', '_')}.update_rejected: `));
    return Number(line?.split(': ')[1] ?? 'NaN');
  }

  beforeAll(async () => {
    first = await startUpstream('first', cleanup);
    second = await startUpstream('second', cleanup);
    third = await startUpstream('third', cleanup);
    file = join(tempDir('nack-eds', cleanup), 'mesh.yaml');
    writeFileSync(file, meshYaml([{ name: 'echo', endpoints: [{ port: first.port }] }]));
    plane = new ControlPlane({ file, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', debounceQuietMs: 20, debounceMaxMs: 200 });
    await plane.start();
    cleanup.add(() => plane.stop());
    envoy = await startEnvoy({ xdsPort: plane.xdsPort, nodeId: 'nack-eds' }, cleanup);
    await waitFor('EDS SYNCED', async () => (await eds())?.status === 'SYNCED');
  });

  afterAll(() => cleanup.run());

  it('Envoy keeps the old endpoints; status says NACKED with the cluster named until a newer version is ACKed', async () => {
    // Envoy refuses an EDS endpoint whose address is no IP ("malformed IP address").
    plane.cache.setResourceHook((typeUrl, resources) => {
      if (typeUrl !== ENDPOINT) return resources;
      return resources.map((resource) => {
        const cla = resource as { cluster_name?: string; endpoints?: { lb_endpoints?: { endpoint?: { address?: { socket_address?: object } } }[] }[] };
        if (cla.cluster_name !== ECHO) return resource;
        const malformed = (e: { endpoint?: { address?: { socket_address?: object } } }) => ({
          ...e,
          endpoint: { ...e.endpoint, address: { socket_address: { ...e.endpoint?.address?.socket_address, address: 'not-an-ip' } } },
        });
        return { ...cla, endpoints: (cla.endpoints ?? []).map((l) => ({ ...l, lb_endpoints: (l.lb_endpoints ?? []).map(malformed) })) };
      });
    });
    await waitFor('EDS NACKED', async () => (await eds())?.status === 'NACKED');
    await waitFor('Envoy to count the rejected EDS update', async () => (await edsRejectedByEnvoy(ECHO)) === 1);
    const nacked = await eds();

    // A new cluster: Envoy asks for its endpoints (carrying the NACKed nonce), gets them and ACKs.
    writeFileSync(
      file,
      meshYaml([
        { name: 'echo', endpoints: [{ port: first.port }] },
        { name: 'other', endpoints: [{ port: second.port }] },
      ]),
    );
    await waitFor('Envoy to take the new cluster’s endpoints', async () => (await envoyClusterHosts(envoy)).get(OTHER)?.length === 1);
    await waitFor('EDS ACKed past the NACK', async () => {
      const now = await eds();
      return now?.ackedVersion !== nacked?.ackedVersion && now?.sentVersion === now?.ackedVersion ? now : undefined;
    });
    const after = await eds();
    // Envoy still runs echo's old endpoints; the type must not read SYNCED.
    expect(after?.status).toBe('NACKED');
    expect(after?.rejectedResources.map((r) => r.name)).toEqual([ECHO]);
    expect(after?.rejectedResources[0]?.error).toBe(nacked?.lastNack?.error);
    expect(await edsRejectedByEnvoy(ECHO)).toBe(1); // the rejected version was not sent again
    expect(await envoy.request('echo.shop', '/')).toEqual({ status: 200, body: 'first' });

    // A newer version of echo (a new endpoint, the fault gone) is accepted: SYNCED again.
    plane.cache.setResourceHook(undefined);
    writeFileSync(
      file,
      meshYaml([
        { name: 'echo', endpoints: [{ port: first.port }, { port: third.port }] },
        { name: 'other', endpoints: [{ port: second.port }] },
      ]),
    );
    await waitFor('EDS SYNCED after a newer echo is accepted', async () => (await eds())?.status === 'SYNCED');
    expect((await eds())?.rejectedResources).toEqual([]);
    await waitFor('Envoy to hold both echo endpoints', async () => (await envoyClusterHosts(envoy)).get(ECHO)?.length === 2);
  });
});

/**
 * One EDS response carrying two clusters, one of them bad. Envoy applies EDS cluster by
 * cluster, so the NACK blames one cluster, not both: some of the response may have been
 * applied, some never reached. meshcp re-sends each cluster alone and learns which one
 * Envoy refuses: the healthy cluster is never listed as rejected, and its valid update
 * ends applied in Envoy (on main before this, Delta left it unsent for good).
 */
for (const delta of [false, true]) {
  describe(`EDS NACK of two clusters with a real Envoy (${delta ? 'Delta' : 'SotW'}): only the bad one is blamed`, () => {
    const cleanup = new Cleanup();
    const node = `nack-two-${delta ? 'delta' : 'sotw'}`;
    let plane: ControlPlane;
    let envoy: EnvoyProcess;
    let file: string;
    let first: Upstream;
    let second: Upstream;
    let third: Upstream;

    const eds = () => edsView(plane.adminPort, node);

    beforeAll(async () => {
      first = await startUpstream('first', cleanup);
      second = await startUpstream('second', cleanup);
      third = await startUpstream('third', cleanup);
      file = join(tempDir('nack-two', cleanup), 'mesh.yaml');
      writeFileSync(
        file,
        meshYaml([
          { name: 'echo', endpoints: [{ port: first.port }] },
          { name: 'other', endpoints: [{ port: second.port }] },
        ]),
      );
      plane = new ControlPlane({ file, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', debounceQuietMs: 20, debounceMaxMs: 200 });
      await plane.start();
      cleanup.add(() => plane.stop());
      envoy = await startEnvoy({ xdsPort: plane.xdsPort, nodeId: node, delta }, cleanup);
      await waitFor('EDS SYNCED', async () => (await eds())?.status === 'SYNCED');
    });

    afterAll(() => cleanup.run());

    it('the healthy cluster is not listed, its valid update is applied; the bad one is held back until fixed', async () => {
      type Cla = { cluster_name?: string; endpoints?: { lb_endpoints?: { endpoint?: { address?: { socket_address?: Record<string, unknown> } } }[] }[] };
      const withAddress = (cla: Cla, change: (socket: Record<string, unknown>) => Record<string, unknown>): Cla => ({
        ...cla,
        endpoints: (cla.endpoints ?? []).map((l) => ({
          ...l,
          lb_endpoints: (l.lb_endpoints ?? []).map((e) => ({
            ...e,
            endpoint: { ...e.endpoint, address: { socket_address: change(e.endpoint?.address?.socket_address ?? {}) } },
          })),
        })),
      });
      // One change, one EDS response: echo moves to `third` (valid), other gets an address that is no IP (Envoy refuses it).
      plane.cache.setResourceHook((typeUrl, resources) =>
        typeUrl !== ENDPOINT
          ? resources
          : resources.map((resource) => {
              const cla = resource as Cla;
              if (cla.cluster_name === ECHO) return withAddress(cla, (s) => ({ ...s, port_value: third.port }));
              if (cla.cluster_name === OTHER) return withAddress(cla, (s) => ({ ...s, address: 'not-an-ip' }));
              return resource;
            }),
      );
      // Each cluster is re-sent alone: echo is taken, other is refused again and held back, naming only other.
      await waitFor('other held back alone', async () => {
        const now = await eds();
        // A re-sent suspect stays listed until answered: none listed means every answer is in.
        return now?.rejectedResources.length === 1 && now.suspectResources.length === 0 ? now : undefined;
      }).catch(async (error) => {
        throw new Error(`${(error as Error).message}: ${JSON.stringify(await eds())}`);
      });
      const held = await eds();
      expect(held?.status).toBe('NACKED');
      expect(held?.rejectedResources.map((r) => r.name)).toEqual([OTHER]);
      expect(held?.rejectedResources[0]?.error).toContain('malformed IP address');
      await waitFor('Envoy to run echo’s valid update', async () => (await envoyClusterHosts(envoy)).get(ECHO)?.[0]?.endsWith(`:${third.port}`));
      expect(await envoy.request('echo.shop', '/')).toEqual({ status: 200, body: 'third' });
      expect(await envoy.request('other.shop', '/')).toEqual({ status: 200, body: 'second' }); // other's old endpoints still serve

      // other fixed (a newer version): accepted, SYNCED, nothing listed.
      plane.cache.setResourceHook(undefined);
      writeFileSync(
        file,
        meshYaml([
          { name: 'echo', endpoints: [{ port: third.port }] },
          { name: 'other', endpoints: [{ port: first.port }] },
        ]),
      );
      await waitFor('EDS SYNCED after other is fixed', async () => (await eds())?.status === 'SYNCED');
      expect(await eds()).toMatchObject({ rejectedResources: [], suspectResources: [] });
      await waitFor('Envoy to run other’s fixed endpoints', async () => (await envoyClusterHosts(envoy)).get(OTHER)?.[0]?.endsWith(`:${first.port}`));
    });
  });
}
