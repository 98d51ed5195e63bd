/**
 * The edges of what meshcp's manifest validation now accepts, run through a real Envoy
 * (`envoy --mode validate`): a path regex whose estimated RE2 program is exactly at the
 * limit, 1000 repetitions, the longest durations in every field that takes one, the
 * most backends a rule may list at the largest weight, header modifiers on names that
 * merely look like Host, the longest header and query parameter names and values. Envoy must accept all of it under the runtime layer of
 * meshcp's own bootstrap; without that layer, the regex must be refused (so the layer
 * is what makes the difference, and the test would notice it going missing).
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  envoyBootstrap,
  envoyProfile,
  parseManifests,
  proxyFromNode,
  RE2_MAX_PROGRAM_SIZE,
  re2Problem,
  re2ProgramSizeEstimate,
  translateEnvoy,
} from '@meshcp/translators';
import { installEnvoy } from 'meshcp';
import { afterAll, describe, expect, it } from 'vitest';
import { Cleanup, NEWEST_ENVOY, tempDir } from '../src/harness.js';

const run = promisify(execFile);

/** `/` and `a` are charged 1 each, `.{0,1000}` 9000, `[a-z]{0,n}` 3n, the program 6: 2 + 3 × 9000 + 3000 + 2760 + 6 = 32768. */
const REGEX_AT_LIMIT = '/.{0,1000}.{0,1000}.{0,1000}[a-z]{0,1000}[a-z]{0,920}a';

function manifests(regex: string) {
  const service = (name: string, spec: Record<string, unknown> = {}) => ({
    apiVersion: 'meshcp.io/v1alpha1',
    kind: 'MeshService',
    metadata: { namespace: 'team-a', name },
    spec: { ports: [{ name: 'http', port: 80, protocol: 'HTTP' }], endpoints: [{ address: '10.0.0.1' }], ...spec },
  });
  const longest = '99999h';
  const route = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { namespace: 'team-a', name: 'edges' },
    spec: {
      parentRefs: [{ name: 'web' }],
      rules: [
        { matches: [{ path: { type: 'RegularExpression', value: regex } }], backendRefs: [{ name: 'web', port: 80 }] },
        { matches: [{ path: { type: 'RegularExpression', value: '/a{1000}' } }], backendRefs: [{ name: 'web', port: 80 }] },
        {
          matches: [{ path: { type: 'PathPrefix', value: '/slow' } }],
          timeouts: { request: longest, backendRequest: longest },
          retry: { attempts: 2, backoff: longest },
          backendRefs: [{ name: 'web', port: 80 }],
        },
        {
          matches: [{ path: { type: 'PathPrefix', value: '/split' } }],
          backendRefs: Array.from({ length: 16 }, (_, i) => ({ name: `web-${i}`, port: 80, weight: 1_000_000 })),
        },
        {
          matches: [{ path: { type: 'PathPrefix', value: '/rewrite' } }],
          filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new\tpath' } } }],
          backendRefs: [{ name: 'web', port: 80 }],
        },
        {
          matches: [{ path: { type: 'PathPrefix', value: '/headers' }, queryParams: [{ name: 'q'.repeat(1024), value: 'x' }] }],
          filters: [
            {
              type: 'RequestHeaderModifier',
              requestHeaderModifier: {
                set: [{ name: 'X-Host', value: 'v'.repeat(16_384) }],
                add: [{ name: 'h'.repeat(16_384), value: 'b' }],
                remove: ['Hostname'],
              },
            },
            { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-status', value: 'c' }], remove: ['Server'] } },
          ],
          backendRefs: [{ name: 'web', port: 80 }],
        },
      ],
    },
  };
  const slowService = service('web', {
    connectTimeout: longest,
    healthCheck: { path: '/healthz', interval: longest, timeout: longest },
    outlierDetection: { interval: longest, baseEjectionTime: longest },
  });
  const splits = Array.from({ length: 16 }, (_, i) => service(`web-${i}`));
  return [slowService, ...splits, route].map((doc, i) => ({ source: 'mesh.yaml', doc, document: i + 1 }));
}

/** A static listener on an ephemeral port whose HTTP connection manager serves `routeConfig` inline. */
function httpListener(name: string, routeConfig: unknown): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: name,
              route_config: routeConfig,
              http_filters: [
                { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
              ],
            },
          },
        ],
      },
    ],
  };
}

/** meshcp's bootstrap for a sidecar, plus the translated routes and clusters as static resources. */
function bootstrapWith(regex: string, runtime: boolean): Record<string, unknown> {
  const parsed = parseManifests(manifests(regex));
  expect(parsed.errors).toEqual([]);
  const proxy = proxyFromNode({
    id: 'limits',
    cluster: 'client',
    user_agent_name: 'envoy',
    user_agent_build_version: { version: { major_number: 1, minor_number: 40, patch: 0 } },
    metadata: { 'meshcp.namespace': 'team-a' },
  });
  const resources = translateEnvoy(parsed.model, proxy, envoyProfile(proxy));
  const bootstrap = envoyBootstrap({ nodeId: 'limits', service: 'client', namespace: 'team-a', xdsAddress: '127.0.0.1:18000', adminPort: 0 });
  if (!runtime) delete bootstrap.layered_runtime;
  const routeConfig = resources.routes[0] as Record<string, unknown>;
  const listener = httpListener('edges', routeConfig);
  const statics = bootstrap.static_resources as { clusters: unknown[] };
  // The translated clusters take their endpoints over EDS; inline them so Envoy validates the clusters alone.
  const clusters = resources.clusters.map((cluster) => {
    const { eds_cluster_config: _eds, type: _type, ...rest } = cluster as Record<string, unknown>;
    const assignment = resources.endpoints.find((e) => e.cluster_name === cluster.name);
    return { ...rest, type: 'STATIC', ...(assignment ? { load_assignment: assignment } : {}) };
  });
  return { ...bootstrap, static_resources: { clusters: [...statics.clusters, ...clusters], listeners: [listener] } };
}

async function validate(binary: string, file: string, config: Record<string, unknown>): Promise<{ ok: boolean; output: string }> {
  writeFileSync(file, JSON.stringify(config));
  try {
    const { stdout, stderr } = await run(binary, ['--mode', 'validate', '-c', file, '-l', 'error'], { timeout: 60_000 });
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** A bootstrap whose one route matches `regex`, with Envoy's program-size error level at 1: Envoy's error then states the regex's real size. */
function sizeProbe(regex: string): Record<string, unknown> {
  const listener = httpListener('probe', {
    name: 'probe',
    virtual_hosts: [{ name: 'probe', domains: ['*'], routes: [{ match: { safe_regex: { regex } }, direct_response: { status: 200 } }] }],
  });
  return {
    layered_runtime: { layers: [{ name: 'probe', static_layer: { 're2.max_program_size.error_level': 1 } }] },
    static_resources: { listeners: [listener] },
  };
}

/** One pattern per construct the estimate charges, and their repetitions. */
const CALIBRATION = [
  'a',
  '^/abc$',
  '.',
  '[^/]+',
  '\\d\\w\\s\\D\\W\\S',
  '[a-z0-9._~-]',
  '[а-я]|é|日本|[😀-🙏]',
  '\\p{L}\\P{S}\\p{Po}\\p{Sm}',
  '(?i:hello[a-zé])',
  '(a|bc|[^x])*?',
  '\\bfoo\\B',
  '^/api/v[0-9]+/users/[a-z0-9-]{1,64}/items$',
  '/a{1000}',
  '.{0,1000}',
  '[^/]{1,1000}',
  '\\w{3,}',
  '(?:\\p{S}|\\p{P}){1,300}',
  '(?:(?:ab){10}){100}',
  '(a|bc|[^x]){10,1000}',
  // RE2 spellings JavaScript lacks (re2AsJavaScript): a leading flag group, escaped punctuation, Python-style named groups, \A and \z.
  '(?i)^/docs',
  '^/v1\\-beta/.*',
  '(?P<id>\\d+)',
  '^/c\\++$',
  '\\A/abc\\z',
];

describe(`route limits against Envoy ${NEWEST_ENVOY} --mode validate`, () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.run());

  it('the regex under test is exactly at the limit, and one character more is refused by meshcp', () => {
    expect(re2ProgramSizeEstimate(REGEX_AT_LIMIT)).toBe(RE2_MAX_PROGRAM_SIZE);
    const over = parseManifests(manifests(`${REGEX_AT_LIMIT}c`));
    expect(over.errors).toEqual([
      expect.objectContaining({
        object: 'HTTPRoute team-a/edges',
        path: 'spec.rules[0].matches[0].path.value',
        message: expect.stringContaining(`estimated at ${RE2_MAX_PROGRAM_SIZE + 1} instructions, more than the limit of ${RE2_MAX_PROGRAM_SIZE}`),
      }),
    ]);
  });

  it('Envoy accepts every edge case meshcp accepts, with the bootstrap runtime layer; without it, the regex is refused', async () => {
    const binary = await installEnvoy(NEWEST_ENVOY);
    const dir = tempDir('route-limits', cleanup);
    const withLayer = await validate(binary, join(dir, 'with-runtime.json'), bootstrapWith(REGEX_AT_LIMIT, true));
    expect(withLayer.output).toContain('OK');
    expect(withLayer.ok).toBe(true);
    // The reviewer's example regex (274 instructions to Envoy 1.40) is refused under Envoy's default of 100.
    const without = await validate(binary, join(dir, 'without-runtime.json'), bootstrapWith('^/api/v[0-9]+/users/[a-z0-9-]{1,64}/items$', false));
    expect(without.ok).toBe(false);
    expect(without.output).toMatch(/RE2 program size of \d+ > max program size of 100/);
  });

  it('the estimate is never below the program size Envoy reports, for every construct it charges', async () => {
    const binary = await installEnvoy(NEWEST_ENVOY);
    const dir = tempDir('re2-sizes', cleanup);
    for (const [i, pattern] of CALIBRATION.entries()) {
      const { output } = await validate(binary, join(dir, `probe-${i}.json`), sizeProbe(pattern));
      const reported = /RE2 program size of (\d+)/.exec(output)?.[1];
      expect(reported, `Envoy's size for ${pattern}: ${output.slice(-300)}`).toBeDefined();
      expect(re2Problem(pattern), pattern).toBeUndefined();
      expect(re2ProgramSizeEstimate(pattern), `${pattern}: Envoy says ${reported}`).toBeGreaterThanOrEqual(Number(reported));
    }
  });
});
