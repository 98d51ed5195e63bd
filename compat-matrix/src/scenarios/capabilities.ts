/**
 * One scenario per row of the Envoy capability table (translators/src/envoy/capabilities.ts),
 * id `cap-<feature in kebab case>`, each row's `proof` naming its scenario. What a cell
 * expects is read from the table, never from version numbers written here: the cell asks
 * `supports(profile, feature)` for its Envoy version and then checks, on the real Envoy,
 *
 *  - that what meshcp's translator sends for that version works (and is the form the row
 *    says: the newer one iff supported), with `server.dynamic_unknown_fields` at 0;
 *  - what the newer form does when forced onto this version through the cache's resource
 *    hook, bypassing the table: honoured where the row says supported; otherwise what
 *    `onOlder` claims (`dropped`: ACKed, the effect missing, `server.dynamic_unknown_fields`
 *    risen; `nacked`: a NACK; `different-default`: ACKed, Envoy's own default differs).
 *
 * So a row whose `since`/`until` is wrong fails exactly the cells on the wrong side of the
 * boundary: the translator follows the table there, and the real Envoy does not.
 */
import { createServer as createHttp2Server, type Http2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { type Capability, ENVOY_CAPABILITIES, type EnvoyProfile, envoyProfile, parseVersion, supports } from '@meshcp/translators';
import { CLUSTER, ENDPOINT, ROUTE } from '@meshcp/xds-protos';
import type { CellContext, Scenario, TypeView } from '../scenario.js';
import { meshYaml } from '../support/mesh.js';
import { fetchText } from '../support/net.js';
import { assert, expectAnswer } from './_common.js';

/** 'route.pathRewrite' → 'cap-route-path-rewrite' (the id a row's `proof` names). */
export function capabilityScenarioId(feature: string): string {
  return `cap-${feature
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .toLowerCase()}`;
}

interface Expectation {
  row: Capability;
  /** What the table says about this cell's Envoy version. */
  supported: boolean;
  profile: EnvoyProfile;
  /** "Envoy 1.37.0 (table: route.pathRewrite since 1.37.0 → supported)", for messages. */
  claim: string;
}

/** Feature-specific set-up and checks; everything version-dependent comes in `expect`. */
type Probe = (cell: CellContext, expect: Expectation) => Promise<void>;

const SHORT: Record<string, 'CDS' | 'EDS' | 'RDS'> = { [CLUSTER]: 'CDS', [ENDPOINT]: 'EDS', [ROUTE]: 'RDS' };

/** Fields Envoy received over xDS and silently dropped because its API lacks them. */
async function droppedFields(cell: CellContext): Promise<number> {
  const value = await cell.envoy.stat('server.dynamic_unknown_fields');
  assert.ok(value !== undefined, `Envoy ${cell.version} has no server.dynamic_unknown_fields stat`);
  return value;
}

type Forced = { outcome: 'unchanged' } | { outcome: 'acked'; type: TypeView } | { outcome: 'nacked'; type: TypeView };

/**
 * Installs a resource hook that rewrites one type into the newer form, bypassing the
 * table, and waits for Envoy's answer. Then asserts what the row claims for this version:
 * supported → ACKed; older → per `onOlder` (a NACK, or an ACK with dropped fields counted).
 */
async function forceNewerForm(cell: CellContext, expect: Expectation, typeUrl: string, rewrite: (resources: object[]) => object[]): Promise<Forced> {
  const short = SHORT[typeUrl] as string;
  const before = (await cell.types())[short];
  const droppedBefore = await droppedFields(cell);
  let called = false;
  let changed = false;
  cell.plane.cache.setResourceHook((type, resources) => {
    if (type !== typeUrl) return resources;
    const out = rewrite(structuredClone(resources));
    called = true;
    if (JSON.stringify(out) !== JSON.stringify(resources)) changed = true;
    return out;
  });
  await cell.waitFor(`the control plane to re-translate ${short} through the hook`, () => called);
  if (!changed) {
    cell.note('forced', `${short} already in the newer form: nothing to force`);
    await cell.waitSynced(`every type SYNCED with the (no-op) hook`);
    return { outcome: 'unchanged' };
  }
  const type = await cell.waitFor(`Envoy to answer the forced ${short} (ACK or NACK)`, async () => {
    const t = (await cell.types())[short];
    if (!t || t.sentVersion === before?.sentVersion) return undefined;
    return (t.status === 'SYNCED' || t.status === 'NACKED') && t;
  });
  const forced: Forced = type.status === 'NACKED' ? { outcome: 'nacked', type } : { outcome: 'acked', type };
  cell.note('forced newer form', type.status === 'NACKED' ? `NACKED: ${type.lastNack?.error}` : 'ACKed');
  if (expect.supported || expect.row.onOlder !== 'nacked') {
    assert.equal(forced.outcome, 'acked', `${expect.claim}: the forced ${short} should be ACKed, Envoy NACKed it: ${type.lastNack?.error}`);
  } else {
    assert.equal(forced.outcome, 'nacked', `${expect.claim}: onOlder 'nacked', yet Envoy ACKed the forced ${short}`);
  }
  if (forced.outcome === 'acked' && !expect.supported && expect.row.onOlder === 'dropped') {
    const dropped = await droppedFields(cell);
    assert.ok(
      dropped > droppedBefore,
      `${expect.claim}: onOlder 'dropped', so server.dynamic_unknown_fields should rise (was ${droppedBefore}, is ${dropped})`,
    );
  }
  if (forced.outcome === 'acked' && expect.supported) {
    assert.equal(await droppedFields(cell), droppedBefore, `${expect.claim}: Envoy should know the field, yet server.dynamic_unknown_fields rose`);
  }
  return forced;
}

/** Envoy's /config_dump section for one resource kind, as text. */
function envoyDump(cell: CellContext, resource: string): Promise<string> {
  return cell.envoy.admin(`/config_dump?resource=${resource}`);
}

/** The dynamic cluster `name` from Envoy's /config_dump, as JSON text (fails if absent). */
async function envoyCluster(cell: CellContext, name: string): Promise<string> {
  const dump = JSON.parse(await envoyDump(cell, 'dynamic_active_clusters')) as { configs?: { cluster?: { name?: string } }[] };
  const cluster = dump.configs?.find((c) => c.cluster?.name === name);
  assert.ok(cluster, `Envoy holds cluster ${name}; it has ${dump.configs?.map((c) => c.cluster?.name).join(', ')}`);
  return JSON.stringify(cluster);
}

const REWRITE_ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: rewrite, namespace: shop}
spec:
  parentRefs: [{name: echo}]
  rules:
    - matches: [{path: {type: Exact, value: /old}}]
      backendRefs: [{name: echo, port: 8080}]
      filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: /new/path}}}]
`;

/** Remote HTTP/2 settings of one connection Envoy opened to the h2c upstream. */
interface H2Seen {
  maxConcurrentStreams: number | undefined;
  initialWindowSize: number | undefined;
  /** How much we may send before Envoy's next WINDOW_UPDATE: Envoy's connection receive window. */
  connectionWindow: number | undefined;
}

/** A cleartext HTTP/2 (prior knowledge) upstream recording the settings of each connection's first stream. */
async function h2Upstream(cell: CellContext, name: string): Promise<{ port: number; seen: H2Seen[] }> {
  const seen: H2Seen[] = [];
  const counted = new WeakSet<Http2Session>();
  const sessions = new Set<Http2Session>();
  const server = createHttp2Server();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  server.on('stream', (stream) => {
    const session = stream.session;
    if (session && !counted.has(session)) {
      counted.add(session);
      seen.push({
        maxConcurrentStreams: session.remoteSettings.maxConcurrentStreams,
        initialWindowSize: session.remoteSettings.initialWindowSize,
        connectionWindow: session.state.remoteWindowSize,
      });
    }
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.end(`${name}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cell.cleanup.add(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as AddressInfo).port, seen };
}

/**
 * A minimal OTLP/gRPC trace sink (HTTP/2, cleartext): answers every Export with an empty
 * success and keeps each request body (protobuf; the service name is a plain string in it).
 */
async function otlpSink(cell: CellContext): Promise<{ port: number; exports: Buffer[] }> {
  const exports: Buffer[] = [];
  const sessions = new Set<Http2Session>();
  const server = createHttp2Server();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      if (headers[':path'] === '/opentelemetry.proto.collector.trace.v1.TraceService/Export') exports.push(Buffer.concat(chunks));
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.alloc(5)); // one empty ExportTraceServiceResponse, uncompressed
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cell.cleanup.add(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as AddressInfo).port, exports };
}

const PROBES: Record<string, Probe> = {
  /**
   * Mesh-wide OpenTelemetry tracing: the tracer meshcp configures is accepted, and Envoy
   * exports spans named for the cell's service over OTLP/gRPC to the collector cluster.
   * The row only depends on the build's extensions, so every version is on the supported side.
   */
  'tracing.openTelemetry': async (cell, expect) => {
    const echo = await cell.upstream('echo');
    const sink = await otlpSink(cell);
    const tracing = `apiVersion: meshcp.io/v1alpha1
kind: MeshConfig
metadata: {name: mesh}
spec:
  tracing:
    collector: {address: 127.0.0.1, port: ${sink.port}}
    samplingPercent: 100
`;
    await cell.start({ mesh: meshYaml([{ name: 'echo', endpoints: [{ port: echo.port }] }], tracing) });
    const listeners = await envoyDump(cell, 'dynamic_listeners');
    assert.equal(
      listeners.includes('envoy.tracers.opentelemetry'),
      expect.supported,
      `${expect.claim}: the outbound listener should ${expect.supported ? '' : 'not '}carry the OpenTelemetry tracer`,
    );
    if (!expect.supported) return;
    // The tracer flushes at 5 spans (or every 5 s): a few requests, then the export.
    for (let i = 0; i < 6; i++) await expectAnswer(cell, 'echo.shop', '/', 200, 'echo');
    const span = await cell.waitFor('an OTLP Export naming service compat-client.shop', () => sink.exports.find((body) => body.includes('compat-client.shop')));
    cell.note('spans exported', `${sink.exports.length} Export call(s), ${span.length} bytes in the one checked`);
    assert.equal(await droppedFields(cell), 0, `${expect.claim}: the translator never sends a field this version drops`);
  },

  /** URLRewrite ReplaceFullPath: path_rewrite where supported, an equivalent regex_rewrite before. */
  'route.pathRewrite': async (cell, expect) => {
    const echo = await cell.upstream('echo');
    await cell.start({ mesh: meshYaml([{ name: 'echo', endpoints: [{ port: echo.port }] }], REWRITE_ROUTE) });
    await expectAnswer(cell, 'echo.shop', '/old?q=1', 200, 'echo');
    assert.equal(
      echo.paths.at(-1),
      '/new/path?q=1',
      `${expect.claim}: the translated rewrite should reach the upstream as /new/path?q=1, it saw ${echo.paths.at(-1)}`,
    );
    const routes = await envoyDump(cell, 'dynamic_route_configs');
    assert.equal(
      routes.includes('"path_rewrite"'),
      expect.supported,
      `${expect.claim}: the translation should ${expect.supported ? '' : 'not '}use path_rewrite (Envoy's /config_dump says the opposite)`,
    );
    assert.equal(await droppedFields(cell), 0, `${expect.claim}: the translator never sends a field this version drops`);

    const forced = await forceNewerForm(cell, expect, ROUTE, (resources) =>
      JSON.parse(JSON.stringify(resources).replace(/"regex_rewrite":\{"pattern":\{"regex":"\^\/\.\*\$"\},"substitution":"([^"]*)"\}/g, '"path_rewrite":"$1"')),
    );
    if (forced.outcome !== 'acked') return;
    const before = echo.requests;
    await expectAnswer(cell, 'echo.shop', '/old', 200, 'echo');
    assert.equal(echo.requests, before + 1, 'exactly one request reached the upstream');
    const got = echo.paths.at(-1);
    cell.note('forced path_rewrite: upstream saw', got ?? '(nothing)');
    assert.equal(
      got,
      expect.supported ? '/new/path' : '/old',
      `${expect.claim}: forced path_rewrite should be ${expect.supported ? 'honoured' : 'silently dropped'}; the upstream saw ${got}`,
    );
  },

  /** Endpoint names as observability_name where supported, nothing before. */
  'endpoint.observabilityName': async (cell, expect) => {
    const web = await cell.upstream('web');
    await cell.start({
      mesh: `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: web, namespace: shop}
spec:
  ports: [{name: http, port: 8080}]
  endpoints: [{address: 127.0.0.1, port: ${web.port}, name: web-pod-1, locality: {region: eu, zone: eu-1a}}]
`,
    });
    const served = await fetchText(`http://127.0.0.1:${cell.plane.adminPort}/debug/config_dump?proxy=${encodeURIComponent(cell.nodeId)}`);
    const eds = JSON.stringify((JSON.parse(served) as { resources: { EDS?: unknown } }).resources.EDS);
    assert.equal(
      eds.includes('"observability_name":"web-pod-1"'),
      expect.supported,
      `${expect.claim}: the translation should ${expect.supported ? '' : 'not '}carry observability_name; EDS served: ${eds.slice(0, 300)}`,
    );
    assert.equal(await droppedFields(cell), 0, `${expect.claim}: the translator never sends a field this version drops`);
    await expectAnswer(cell, 'web.shop', '/', 200, 'web');

    const forced = await forceNewerForm(cell, expect, ENDPOINT, (resources) => {
      for (const cla of resources as { endpoints?: { lb_endpoints?: { endpoint?: Record<string, unknown> }[] }[] }[])
        for (const group of cla.endpoints ?? []) for (const lb of group.lb_endpoints ?? []) if (lb.endpoint) lb.endpoint.observability_name = 'forced-name';
      return resources;
    });
    // Envoy's EDS /config_dump is rebuilt from its hosts and never shows observability_name:
    // what tells the sides apart is whether Envoy counted the field as unknown (forceNewerForm).
    assert.equal(forced.outcome, 'acked', 'the forced endpoints were ACKed');
    await expectAnswer(cell, 'web.shop', '/', 200, 'web');
  },

  /**
   * meshcp pins HTTP/2 limits to the 1.36 defaults on every version: the pinned values are
   * in Envoy's config and on the wire (the upstream reads Envoy's SETTINGS and connection
   * window). With the pin removed, Envoy's own defaults equal it where the table says
   * supported and differ before (onOlder 'different-default').
   */
  'http2.safeDefaultsPinned': async (cell, expect) => {
    const upstream = await h2Upstream(cell, 'h2');
    await cell.start({
      mesh: `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: inventory, namespace: shop}
spec:
  ports: [{name: h2, port: 9090, protocol: HTTP2}]
  endpoints: [{address: 127.0.0.1, port: ${upstream.port}, locality: {region: eu, zone: eu-1a}}]
`,
    });
    const cluster = await envoyCluster(cell, 'inventory.shop:9090');
    for (const pinned of ['"max_concurrent_streams":1024', '"initial_stream_window_size":16777216', '"initial_connection_window_size":25165824'])
      assert.ok(cluster.includes(pinned), `${expect.claim}: Envoy's cluster config should carry ${pinned}: ${cluster.slice(0, 600)}`);
    const PINNED: H2Seen = { maxConcurrentStreams: 1024, initialWindowSize: 16777216, connectionWindow: 25165824 };
    await expectAnswer(cell, 'inventory.shop', '/', 200, 'h2');
    const pinnedSeen = upstream.seen.at(-1);
    cell.note('HTTP/2 with the pin', JSON.stringify(pinnedSeen));
    assert.deepEqual(pinnedSeen, PINNED, `${expect.claim}: the pinned limits on the wire`);

    await forceNewerForm(cell, expect, CLUSTER, (resources) => {
      for (const c of resources as { typed_extension_protocol_options?: Record<string, { explicit_http_config?: { http2_protocol_options?: object } }> }[])
        for (const options of Object.values(c.typed_extension_protocol_options ?? {}))
          if (options.explicit_http_config?.http2_protocol_options) options.explicit_http_config.http2_protocol_options = {};
      return resources;
    });
    const connections = upstream.seen.length;
    // Not asserted (the control plane's business, not this row's): a CDS-only change should
    // come with the cluster's EDS re-sent, else the replaced cluster warms until Envoy's
    // 15 s initial_fetch_timeout.
    cell.note('replaced cluster warmed by init_fetch_timeout', (await cell.envoy.stat('cluster.inventory.shop_9090.init_fetch_timeout')) ?? 'n/a');
    // The replaced cluster gets a new connection pool: wait for a request on a new connection.
    await cell.waitFor('a request on a new HTTP/2 connection to the unpinned cluster', async () => {
      await expectAnswer(cell, 'inventory.shop', '/', 200, 'h2');
      return upstream.seen.length > connections;
    });
    const defaults = upstream.seen.at(-1);
    cell.note(`Envoy ${cell.version} HTTP/2 defaults`, JSON.stringify(defaults));
    if (expect.supported) assert.deepEqual(defaults, PINNED, `${expect.claim}: Envoy's own defaults should equal the pin`);
    else assert.notDeepEqual(defaults, PINNED, `${expect.claim}: onOlder 'different-default', yet Envoy's own defaults equal the pin`);
  },

  /** Hostname endpoints: a DNS cluster, the envoy.cluster.dns extension where supported, STRICT_DNS before. */
  'cluster.dnsClusterExtension': async (cell, expect) => {
    const external = await cell.upstream('external');
    const anchor = await cell.upstream('anchor');
    // `anchor` keeps an EDS cluster in the config, so every type has something to ACK.
    const mesh = meshYaml([
      { name: 'partner', endpoints: [{ address: 'localhost', port: external.port }] },
      { name: 'anchor', endpoints: [{ port: anchor.port }] },
    ]);
    await cell.start({ mesh });
    const cluster = await envoyCluster(cell, 'partner.shop:8080');
    assert.equal(
      cluster.includes('"name":"envoy.cluster.dns"'),
      expect.supported,
      `${expect.claim}: the cluster should ${expect.supported ? '' : 'not '}use cluster_type envoy.cluster.dns: ${cluster.slice(0, 400)}`,
    );
    if (!expect.supported) assert.ok(cluster.includes('"type":"STRICT_DNS"'), `${expect.claim}: older versions get STRICT_DNS: ${cluster.slice(0, 400)}`);
    // `localhost` resolves in Envoy's own environment (a container's /etc/hosts, written by
    // podman/docker from the host's); IPv4 first since the upstream listens on 127.0.0.1.
    const hosts = await cell.waitFor('Envoy to resolve localhost for partner.shop:8080', async () => {
      const list = (await cell.envoy.clusterHosts()).get('partner.shop:8080');
      if (!list?.length) throw new Error(`/clusters has no address for partner.shop:8080 (does /etc/hosts in Envoy's runtime map localhost?)`);
      return list;
    });
    assert.deepEqual(hosts, [`127.0.0.1:${external.port}`], 'localhost resolved to 127.0.0.1');
    await cell.waitFor('traffic through the DNS cluster', async () => {
      const got = await cell.envoy.request('partner.shop', '/');
      if (got.body !== 'external') throw new Error(`HTTP ${got.status} "${got.body.slice(0, 80)}"`);
      return true;
    });
    assert.equal(await droppedFields(cell), 0, `${expect.claim}: the translator never sends a field this version drops`);

    // Before the boundary: the extension forced onto this version (a no-op where supported).
    const forced = await forceNewerForm(cell, expect, CLUSTER, (resources) => {
      for (const c of resources as Record<string, unknown>[]) {
        if (c.type !== 'STRICT_DNS') continue;
        delete c.type;
        delete c.dns_lookup_family;
        c.cluster_type = {
          name: 'envoy.cluster.dns',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.clusters.dns.v3.DnsCluster',
            all_addresses_in_single_endpoint: false,
            dns_lookup_family: 'V4_PREFERRED',
          },
        };
      }
      return resources;
    });
    if (forced.outcome === 'nacked') {
      cell.plane.cache.setResourceHook(undefined);
      await cell.waitSynced('every type SYNCED once the forced cluster is gone', 20_000, forced.type.lastNack?.version);
    }
  },
};

function expectationFor(cell: CellContext, row: Capability): Expectation {
  const version = parseVersion(cell.version);
  if (!version) throw new Error(`cell has no parseable Envoy version (${cell.version}): the table cannot say what to expect`);
  const profile = envoyProfile({ version, versionText: cell.version ?? '', extensions: [] });
  const supported = supports(profile, row.feature);
  const range = `since ${row.since}${row.until ? `, until ${row.until}` : ''}`;
  return {
    row,
    supported,
    profile,
    claim: `Envoy ${cell.version} (table: ${row.feature} ${range} → ${supported ? 'supported' : `not supported, ${row.onOlder}`})`,
  };
}

export const scenarios: Scenario[] = Object.entries(PROBES).map(([feature, probe]): Scenario => {
  const row = ENVOY_CAPABILITIES.find((r) => r.feature === feature);
  if (!row) throw new Error(`capabilities.ts has a probe for ${feature}, which is not a row of ENVOY_CAPABILITIES`);
  return {
    id: capabilityScenarioId(feature),
    title: `capability ${feature}: since ${row.since}${row.until ? ` until ${row.until}` : ''}, older Envoys: ${row.onOlder}`,
    order: 90,
    async run(cell) {
      const expect = expectationFor(cell, row);
      cell.note('table says', expect.claim);
      await probe(cell, expect);
      // The control plane translated for the profile the scenario expected (node.extensions included).
      const proxy = await cell.proxy();
      assert.equal(proxy?.profile, expect.profile.name, `the control plane's profile for ${cell.nodeId}`);
    },
  };
});
