/**
 * Gateway API RequestRedirect on real Envoy (oldest and newest supported release):
 * the sidecar answers the redirect itself — status and Location as the rule says —
 * and a rule without the filter still forwards. (The conformance suite's
 * MeshHTTPRouteRedirectHostAndStatus in a cluster; this is the same contract on
 * the file source.)
 */

import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { ENVOY_RELEASES } from '@meshcp/xds-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup, type EnvoyProcess, meshYaml, NEWEST_ENVOY, startEnvoy, startMeshcp, startUpstream, tempDir, waitFor } from '../src/harness.js';

const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web-redirects, namespace: shop}
spec:
  parentRefs: [{name: web, port: 8080}]
  rules:
    - matches: [{path: {type: PathPrefix, value: /hostname-redirect}}]
      filters: [{type: RequestRedirect, requestRedirect: {hostname: example.org, statusCode: 301}}]
    - matches: [{path: {type: PathPrefix, value: /secure}}]
      filters: [{type: RequestRedirect, requestRedirect: {scheme: https, port: 8443}}]
    - matches: [{path: {type: Exact, value: /old}}]
      filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: /new}, statusCode: 308}}]
    - matches: [{path: {type: PathPrefix, value: /v1}}]
      filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}}]
    - backendRefs: [{name: web, port: 8080}]
`;

function get(envoy: EnvoyProcess, path: string): Promise<{ status: number; location: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port: envoy.outboundPort, path, headers: { host: 'web.shop:8080' }, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, location: response.headers.location, body: body.trim() }));
    });
    request.on('error', reject);
  });
}

// The oldest release served and the newest.
for (const version of [ENVOY_RELEASES[0] as string, NEWEST_ENVOY]) {
  describe(`RequestRedirect on Envoy ${version}`, () => {
    const cleanup = new Cleanup();
    let envoy: EnvoyProcess;

    beforeAll(async () => {
      const web = await startUpstream('web', cleanup);
      const file = join(tempDir('redirect', cleanup), 'mesh.yaml');
      writeFileSync(file, meshYaml([{ name: 'web', endpoints: [{ port: web.port }] }], ROUTE));
      const meshcp = await startMeshcp(file, cleanup);
      envoy = await startEnvoy({ xdsPort: meshcp.xdsPort, version, region: 'eu', zone: 'eu-1a' }, cleanup);
      await waitFor('the route to reach Envoy', async () => (await get(envoy, '/')).body === 'web');
    }, 5 * 60_000);
    afterAll(() => cleanup.run());

    it('answers each redirect with its status and Location, and forwards the rest', async () => {
      expect(await get(envoy, '/hostname-redirect/x')).toMatchObject({ status: 301, location: 'http://example.org/hostname-redirect/x' });
      expect(await get(envoy, '/secure/a?b=c')).toMatchObject({ status: 302, location: 'https://web.shop:8443/secure/a?b=c' });
      expect(await get(envoy, '/old')).toMatchObject({ status: 308, location: 'http://web.shop:8080/new' });
      expect(await get(envoy, '/v1/orders/7')).toMatchObject({ status: 302, location: 'http://web.shop:8080/v2/orders/7' });
      expect(await get(envoy, '/other')).toMatchObject({ status: 200, body: 'web' });
    });
  });
}
