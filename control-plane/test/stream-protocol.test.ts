/**
 * The xDS protocol state machines driven without a transport: each test sends
 * requests into an in-memory stream and states exactly which responses come out.
 * The same rules are proven over real gRPC in protocol.test.ts.
 */
import { CLUSTER, ENDPOINT, encodeDeltaDiscoveryRequest, LISTENER, ROUTE } from '@meshcp/xds-protos';
import { describe, expect, it, vi } from 'vitest';
import { streamStateOf } from '../src/metrics.js';
import { Status } from '../src/xds/admission.js';
import { connectionJson, statusOf, type TypeRecord } from '../src/xds/connection.js';
import { clientStatus } from '../src/xds/csds.js';
import { ENVOY_NODE, mesh, serviceYaml } from './fixtures.js';
import { MemoryServer, type MemoryStream, names } from './memory-stream.js';

const A = 'a.shop:8080';
const B = 'b.shop:8080';
const C = 'c.shop:8080';

function served(...services: string[]): MemoryServer {
  const server = new MemoryServer();
  server.cache.setModel(mesh(...services));
  return server;
}

describe('SotW state machine', () => {
  it('answers the first request, records an ACK, and sends nothing more until something changes', () => {
    const server = served(serviceYaml('a', [1001]));
    const stream = server.connect();
    const first = stream.send({ node: ENVOY_NODE, type_url: CLUSTER }).next();
    expect(first.type_url).toBe(CLUSTER);
    expect(names(first)).toEqual([A]);
    stream.ack(first);
    expect(stream.pending()).toBe(0);
    const record = stream.record?.types.get(CLUSTER);
    expect(record?.ackedVersion).toBe(first.version_info);
    expect(record && statusOf(record)).toBe('SYNCED');
  });

  it('waits for the cache to be ready, then answers the waiting request', () => {
    const server = new MemoryServer();
    const stream = server.connect().send({ node: ENVOY_NODE, type_url: CLUSTER });
    expect(stream.pending()).toBe(0);
    server.cache.setModel(mesh(serviceYaml('a', [1001])));
    expect(names(stream.next())).toEqual([A]);
  });

  it('on NACK keeps the last ACKed version, never re-pushes the rejected one, and sends the next version', () => {
    const server = served(serviceYaml('a', [1001]));
    const stream = server.connect();
    const good = stream.send({ node: ENVOY_NODE, type_url: CLUSTER }).next();
    stream.ack(good);
    server.cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002])));
    const bad = stream.next();
    stream.nack(bad, 'cluster b rejected');
    expect(stream.pending()).toBe(0);
    const record = stream.record?.types.get(CLUSTER);
    expect(record).toMatchObject({ ackedVersion: good.version_info, lastResponseNacked: true, lastNack: { error: 'cluster b rejected' } });
    // An endpoint-only change re-plans nothing for CDS: the rejected set is not sent again.
    server.cache.setModel(mesh(serviceYaml('a', [1001, 1003]), serviceYaml('b', [1002])));
    expect(stream.pending()).toBe(0);
    // A request repeating the subscription does not re-send it either.
    stream.send({ type_url: CLUSTER });
    expect(stream.pending()).toBe(0);
    server.cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('c', [1004])));
    const fixed = stream.next();
    expect(names(fixed).sort()).toEqual([A, C]);
  });

  it('EDS: a NACKed resource version is not re-sent; its next version is', () => {
    const server = served(serviceYaml('a', [1001]));
    const stream = server.connect();
    const first = stream.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names: [A] }).next();
    stream.ack(first, [A]);
    server.cache.setModel(mesh(serviceYaml('a', [1001, 1002])));
    const bad = stream.next();
    stream.nack(bad, 'bad endpoints', [A]);
    expect(stream.pending()).toBe(0);
    // Unsubscribe and subscribe again: the rejected version is still not re-sent.
    stream.send({ type_url: ENDPOINT, resource_names: [A], version_info: first.version_info });
    expect(stream.pending()).toBe(0);
    server.cache.setModel(mesh(serviceYaml('a', [1001, 1002, 1003])));
    expect(names(stream.next())).toEqual([A]);
  });

  it('ignores a stale nonce: no response, no state change', () => {
    const server = served(serviceYaml('a', [1001]));
    const stream = server.connect();
    const first = stream.send({ node: ENVOY_NODE, type_url: CLUSTER }).next();
    stream.ack(first);
    server.cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002])));
    const second = stream.next();
    // A late answer to the first response, even with a NACK or a new name list.
    stream.send({ type_url: CLUSTER, version_info: first.version_info, response_nonce: first.nonce, error_detail: { message: 'late' } });
    stream.send({ type_url: CLUSTER, response_nonce: first.nonce, resource_names: ['x'] });
    expect(stream.pending()).toBe(0);
    const record = stream.record?.types.get(CLUSTER);
    expect(record?.ackedVersion).toBe(first.version_info);
    expect(record?.lastNack).toBeUndefined();
    stream.ack(second);
    expect(stream.record?.types.get(CLUSTER)?.ackedVersion).toBe(second.version_info);
  });

  it('wildcard: an empty first CDS request is everything and stays so; "*" is everything for EDS; names select', () => {
    const server = served(serviceYaml('a', [1001]), serviceYaml('b', [1002]));
    const legacy = server.connect();
    const all = legacy.send({ node: ENVOY_NODE, type_url: CLUSTER }).next();
    expect(names(all).sort()).toEqual([A, B]);
    legacy.ack(all);
    server.cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002]), serviceYaml('c', [1003])));
    expect(names(legacy.next()).sort()).toEqual([A, B, C]);

    const star = server.connect();
    const eds = star.send({ node: { ...ENVOY_NODE, id: 'star' }, type_url: ENDPOINT, resource_names: ['*'] }).next();
    expect(names(eds).sort()).toEqual([A, B, C]);

    const named = server.connect();
    const one = named.send({ node: { ...ENVOY_NODE, id: 'named' }, type_url: CLUSTER, resource_names: [B] }).next();
    expect(names(one)).toEqual([B]);
    named.ack(one, [B]);
    // An empty list after a named one is not the legacy wildcard: it is "nothing".
    const none = named.send({ type_url: CLUSTER, resource_names: [] }).next();
    expect(names(none)).toEqual([]);
  });

  it('pushes a change in ADS order CDS → EDS → LDS → RDS; EDS does not wait for the CDS ACK, RDS waits for both', () => {
    const server = served(serviceYaml('a', [1001]));
    const stream = server.connect();
    const sync = (request: Parameters<typeof stream.send>[0], subscription?: string[]) => {
      const response = stream.send(request).next();
      stream.ack(response, subscription);
      return response;
    };
    sync({ node: ENVOY_NODE, type_url: CLUSTER });
    sync({ type_url: ENDPOINT, resource_names: [A, B] }, [A, B]);
    sync({ type_url: LISTENER });
    sync({ type_url: ROUTE, resource_names: ['outbound:15001'] }, ['outbound:15001']);

    server.cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002])));
    const [cds, eds, ...rest] = stream.drain();
    expect(cds?.type_url).toBe(CLUSTER);
    expect(eds?.type_url).toBe(ENDPOINT);
    expect(names(eds ?? {})).toEqual([B]);
    expect(rest).toEqual([]); // RDS waits for the CDS and EDS ACKs
    stream.ack(cds ?? {});
    expect(stream.pending()).toBe(0);
    stream.ack(eds ?? {}, [A, B]);
    const rds = stream.next();
    expect(rds.type_url).toBe(ROUTE);
    expect(JSON.stringify(rds.resources)).toContain(B);
    expect(stream.pending()).toBe(0);
  });

  it('re-sends the endpoints of a cluster CDS updated, unchanged, right after the CDS response (go-control-plane #245)', () => {
    const server = served(serviceYaml('a', [1001]));
    const stream = server.connect();
    stream.ack(stream.send({ node: ENVOY_NODE, type_url: CLUSTER }).next());
    const eds = stream.send({ type_url: ENDPOINT, resource_names: [A] }).next();
    stream.ack(eds, [A]);
    server.cache.setModel(
      mesh(serviceYaml('a', [1001]).replace('ports: [{name: http, port: 8080}]', 'ports: [{name: http, port: 8080}]\n  connectTimeout: 2s')),
    );
    const [cds, again] = stream.drain();
    expect(cds?.type_url).toBe(CLUSTER);
    expect(again?.type_url).toBe(ENDPOINT);
    expect(names(again ?? {})).toEqual([A]);
  });

  it('re-sends a resource the client dropped and subscribed to again (go-control-plane #583)', () => {
    const server = served(serviceYaml('a', [1001]), serviceYaml('b', [1002]));
    const stream = server.connect();
    const both = stream.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names: [A, B] }).next();
    expect(names(both).sort()).toEqual([A, B]);
    stream.ack(both, [A, B]);
    stream.send({ type_url: ENDPOINT, resource_names: [A] });
    expect(stream.pending()).toBe(0); // dropping a name needs no response
    const back = stream.send({ type_url: ENDPOINT, resource_names: [A, B] }).next();
    expect(names(back)).toEqual([B]);
  });

  it('an ACK repeating its names changes nothing; one name swapped in a list of the same length is a change', () => {
    const server = served(serviceYaml('a', [1001]), serviceYaml('b', [1002]), serviceYaml('c', [1003]));
    const stream = server.connect();
    const first = stream.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names: [A, B] }).next();
    stream.ack(first, [A, B]);
    stream.ack(first, [A, B]); // the same names again: nothing is sent
    expect(stream.pending()).toBe(0);
    const swapped = stream.send({ type_url: ENDPOINT, response_nonce: first.nonce, version_info: first.version_info, resource_names: [A, C] }).next();
    expect(names(swapped)).toEqual([C]);
    stream.ack(swapped, [A, C]);
    // Back to the first list: B is owed again.
    const back = stream.send({ type_url: ENDPOINT, resource_names: [A, B] }).next();
    expect(names(back)).toEqual([B]);
  });

  it('removes clusters from CDS by omission', () => {
    const server = served(serviceYaml('a', [1001]), serviceYaml('b', [1002]));
    const stream = server.connect();
    stream.ack(stream.send({ node: ENVOY_NODE, type_url: CLUSTER }).next());
    server.cache.setModel(mesh(serviceYaml('a', [1001])));
    expect(names(stream.next())).toEqual([A]);
  });
});

describe('Delta state machine', () => {
  const versionsOf = (response: { resources?: Record<string, unknown>[] }) =>
    Object.fromEntries((response.resources ?? []).map((r) => [String(r.name), String(r.version)]));

  it('initial_resource_versions: only what differs is sent, removals only for what the client claims', () => {
    const server = served(serviceYaml('a', [1001]), serviceYaml('b', [1002]));
    const held = versionsOf(server.connect('delta').send({ node: ENVOY_NODE, type_url: CLUSTER }).next());
    const stream = server.connect('delta');
    const resync = stream.send({ node: ENVOY_NODE, type_url: CLUSTER, initial_resource_versions: { ...held, [B]: 'old', 'gone.shop:8080': 'x' } }).next();
    expect(names(resync)).toEqual([B]);
    expect(resync.removed_resources).toEqual(['gone.shop:8080']);
    stream.ack(resync);
    server.cache.setModel(mesh(serviceYaml('a', [1001])));
    const removal = stream.next();
    expect(removal.resources ?? []).toEqual([]);
    expect(removal.removed_resources).toEqual([B]);
  });

  it('a reconnect holding every current version gets nothing and shows SYNCED', () => {
    const server = served(serviceYaml('a', [1001]));
    const held = versionsOf(server.connect('delta').send({ node: ENVOY_NODE, type_url: CLUSTER }).next());
    const stream = server.connect('delta').send({ node: ENVOY_NODE, type_url: CLUSTER, initial_resource_versions: held });
    expect(stream.pending()).toBe(0);
    const record = stream.record?.types.get(CLUSTER);
    expect(record && statusOf(record)).toBe('SYNCED');
  });

  it('no phantom removals: a name never asked for is never removed; one asked for and missing is, and arrives later', () => {
    const server = served(serviceYaml('a', [1001]));
    const stream = server.connect('delta');
    const first = stream.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names_subscribe: [A, 'later.shop:8080'] }).next();
    expect(names(first)).toEqual([A]);
    expect(first.removed_resources).toEqual(['later.shop:8080']);
    stream.ack(first);
    server.cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('other', [1005])));
    expect(stream.pending()).toBe(0); // other.shop was never asked for
    server.cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('later', [1006])));
    const arrived = stream.next();
    expect(names(arrived)).toEqual(['later.shop:8080']);
    expect(arrived.removed_resources ?? []).toEqual([]);
  });

  it('an unsubscribed resource is not reported removed, and re-subscribing sends it again', () => {
    const server = served(serviceYaml('a', [1001]), serviceYaml('b', [1002]));
    const stream = server.connect('delta');
    const first = stream.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names_subscribe: [A, B] }).next();
    stream.send({ type_url: ENDPOINT, response_nonce: first.nonce, resource_names_unsubscribe: [B] });
    server.cache.setModel(mesh(serviceYaml('a', [1001, 1005])));
    const update = stream.next();
    expect(names(update)).toEqual([A]);
    expect(update.removed_resources ?? []).toEqual([]);
    // B no longer exists: asking for it again is answered with its removal, and it arrives once it is back.
    const missing = stream.send({ type_url: ENDPOINT, response_nonce: update.nonce, resource_names_subscribe: [B] }).next();
    expect(missing.removed_resources).toEqual([B]);
    stream.ack(missing);
    server.cache.setModel(mesh(serviceYaml('a', [1001, 1005]), serviceYaml('b', [1002])));
    expect(names(stream.next())).toEqual([B]);
  });

  it('a stale nonce is not an ACK, but its subscription change is honoured once the client answers', () => {
    const server = served(serviceYaml('a', [1001]), serviceYaml('b', [1002]));
    const stream = server.connect('delta');
    const first = stream.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names_subscribe: [A] }).next();
    stream.ack(first);
    server.cache.setModel(mesh(serviceYaml('a', [1001, 1003]), serviceYaml('b', [1002])));
    const second = stream.next();
    stream.send({ type_url: ENDPOINT, response_nonce: first.nonce, resource_names_subscribe: [B] });
    expect(stream.pending()).toBe(0); // second is still unanswered
    expect(stream.record?.types.get(ENDPOINT)?.ackedVersion).toBe(first.system_version_info);
    stream.ack(second);
    expect(names(stream.next())).toEqual([B]);
  });

  it('NACK: the rejected version is not re-sent', () => {
    const server = served(serviceYaml('a', [1001]));
    const stream = server.connect('delta');
    stream.ack(stream.send({ node: ENVOY_NODE, type_url: CLUSTER }).next());
    server.cache.setModel(
      mesh(serviceYaml('a', [1001]).replace('ports: [{name: http, port: 8080}]', 'ports: [{name: http, port: 8080}]\n  connectTimeout: 2s')),
    );
    stream.nack(stream.next(), 'no');
    server.cache.setModel(
      mesh(
        serviceYaml('a', [1001]).replace('ports: [{name: http, port: 8080}]', 'ports: [{name: http, port: 8080}]\n  connectTimeout: 2s'),
        serviceYaml('b', [1002]),
      ),
    );
    expect(names(stream.next())).toEqual([B]);
  });
});

describe('admission and limits', () => {
  it('refuses a stream without node, and ends only that stream', () => {
    const server = served(serviceYaml('a', [1001]));
    const healthy = server.connect();
    healthy.send({ node: ENVOY_NODE, type_url: CLUSTER }).next();
    const noNode = server.connect().send({ type_url: CLUSTER });
    expect(noNode.status).toMatchObject({ code: Status.INVALID_ARGUMENT, message: expect.stringContaining('node') });
    const garbage = server.connect().sendRaw(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    expect(garbage.status).toMatchObject({ code: Status.INVALID_ARGUMENT, message: expect.stringContaining('malformed DiscoveryRequest') });
    expect(healthy.status).toBeUndefined();
  });

  it('caps the streams one node id may hold open, and frees a slot when one ends', () => {
    const server = new MemoryServer({ maxStreamsPerNode: 3 });
    const open = Array.from({ length: 3 }, () => server.connect().send({ node: ENVOY_NODE, type_url: CLUSTER }));
    const fourth = server.connect().send({ node: ENVOY_NODE, type_url: CLUSTER });
    expect(fourth.status).toMatchObject({ code: Status.RESOURCE_EXHAUSTED, message: expect.stringContaining('the limit is 3') });
    expect(open.every((s) => s.status === undefined)).toBe(true);
    open[0]?.close();
    expect(server.admission.openStreams(ENVOY_NODE.id)).toBe(2);
    expect(server.connect().send({ node: ENVOY_NODE, type_url: CLUSTER }).status).toBeUndefined();
  });

  it('caps names per request and the growth of a Delta subscription across requests', () => {
    const server = new MemoryServer({ maxResourceNames: 100 });
    const many = Array.from({ length: 101 }, (_, i) => `n${i}`);
    expect(server.connect().send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names: many }).status?.code).toBe(Status.RESOURCE_EXHAUSTED);
    const grow = server.connect('delta').send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names_subscribe: many.slice(0, 60) });
    expect(grow.status).toBeUndefined();
    grow.send({ type_url: ENDPOINT, resource_names_subscribe: many.slice(60) });
    expect(grow.status).toMatchObject({ code: Status.RESOURCE_EXHAUSTED, message: expect.stringContaining('101 resources') });
    const initial = Object.fromEntries(many.map((n) => [n, 'v']));
    expect(server.connect('delta').send({ node: ENVOY_NODE, type_url: CLUSTER, initial_resource_versions: initial }).status?.code).toBe(
      Status.RESOURCE_EXHAUSTED,
    );
  });

  it('handles Delta initial_resource_versions in linear time (no removed.includes in a loop)', () => {
    const server = new MemoryServer({ maxResourceNames: 50_000 });
    server.cache.setModel(mesh(serviceYaml('a', [1001])));
    const claim = (count: number) => {
      const initial: Record<string, string> = {};
      for (let i = 0; i < count; i++) initial[`bogus-${i}.shop:8080`] = 'v1';
      return encodeDeltaDiscoveryRequest({ node: ENVOY_NODE, type_url: CLUSTER, initial_resource_versions: initial });
    };
    /** Fastest of three runs of one reconnect (decode, admission, plan, encode), in ms. */
    const fastest = (request: Buffer, expectedRemovals: number) => {
      let best = Number.POSITIVE_INFINITY;
      for (let run = 0; run < 3; run++) {
        const stream = server.connect('delta');
        const started = performance.now();
        stream.sendRaw(request);
        best = Math.min(best, performance.now() - started);
        expect(stream.next().removed_resources).toHaveLength(expectedRemovals);
        stream.close();
      }
      return best;
    };
    fastest(claim(2_000), 2_000); // warm-up
    const small = fastest(claim(2_500), 2_500);
    const large = fastest(claim(40_000), 40_000);
    process.stdout.write(`Delta reconnect claiming unknown names: 2,500 in ${small.toFixed(0)} ms, 40,000 in ${large.toFixed(0)} ms\n`);
    // 16× the entries: linear costs ~16×, the quadratic version ~256×. The bound sits 4× from each, so a loaded
    // machine's noise (8× vs 20 failed once at 20.2) cannot decide it.
    expect(large / small).toBeLessThan(64);
  });

  it('never asks the cache about EDS names it does not know', () => {
    const server = served(serviceYaml('a', [1001]));
    const lookups = vi.spyOn(server.cache, 'resource');
    const bogus = Array.from({ length: 5000 }, (_, i) => `bogus-${i}.shop:8080`);
    const response = server
      .connect()
      .send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names: [A, ...bogus] })
      .next();
    expect(names(response)).toEqual([A]);
    expect(lookups.mock.calls.map((call) => call[2])).toEqual([A]);
  });

  it('truncates NACK text to 1 KiB in the admin record', () => {
    const server = served(serviceYaml('a', [1001]));
    const stream = server.connect();
    const first = stream.send({ node: ENVOY_NODE, type_url: CLUSTER }).next();
    stream.nack(first, 'x'.repeat(1_000_000));
    const error = stream.record?.types.get(CLUSTER)?.lastNack?.error ?? '';
    expect(error.length).toBeLessThan(1100);
    expect(error).toContain('998976 more characters dropped');
  });

  it('ends a stream whose client stops taking responses once the write deadline passes', async () => {
    const server = new MemoryServer({ writeDeadlineMs: 50 });
    server.cache.setModel(mesh(serviceYaml('a', [1001])));
    const slow = server.connect();
    slow.stopReading();
    slow.send({ node: ENVOY_NODE, type_url: CLUSTER });
    const reader = server.connect().send({ node: { ...ENVOY_NODE, id: 'reader' }, type_url: CLUSTER });
    await expect.poll(() => slow.aborted, { timeout: 2000 }).toContain('took no response for 50 ms');
    expect(server.sessions.has(slow.session)).toBe(false);
    expect(server.admission.openStreams(ENVOY_NODE.id)).toBe(0);
    expect(reader.aborted).toBeUndefined();
    expect(await server.counter('ignoredRequests', { reason: 'write_deadline' })).toBe(1);
  });

  it('keeps a slow reader whose connection still moves bytes, and ends it once they stop', async () => {
    const server = new MemoryServer({ writeDeadlineMs: 50 });
    server.cache.setModel(mesh(serviceYaml('a', [1001])));
    const slow = server.connect();
    slow.stopReading();
    slow.connectionBytes = 0;
    slow.send({ node: ENVOY_NODE, type_url: CLUSTER });
    const moving = setInterval(() => {
      slow.connectionBytes = (slow.connectionBytes ?? 0) + 1000;
    }, 10);
    await new Promise((resolve) => setTimeout(resolve, 300));
    clearInterval(moving);
    expect(slow.aborted).toBeUndefined();
    // Its bytes stopped: ended within two deadlines.
    await expect.poll(() => slow.aborted, { timeout: 2000 }).toContain('took no response for 50 ms');
  });
});

/**
 * Status honesty after a NACK: a proxy that cannot use what it got is never shown SYNCED
 * with nothing degraded — not in the admin record (/debug/proxies, `meshcp status`), not
 * in CSDS, not in the stream-state metrics.
 */
describe('NACK status honesty', () => {
  type Row = { name: string; version_info: string; client_status: string; config_status: string; error_state?: { details: string } };
  /** The CSDS rows of one type for the stream, by name. */
  const csdsRows = (stream: MemoryStream, typeUrl: string): Row[] => {
    const record = stream.record;
    if (!record) throw new Error('stream not admitted');
    const fleet = { connections: () => [record], resourcesHeld: (_r: unknown, type: typeof CLUSTER) => stream.session.resourcesHeld(type) };
    const { config } = clientStatus(fleet, {});
    const rows = ((config[0] as { generic_xds_configs: (Row & { type_url: string })[] }).generic_xds_configs ?? []).filter((c) => c.type_url === typeUrl);
    return rows.sort((x, y) => x.name.localeCompare(y.name));
  };
  const typeRecord = (stream: MemoryStream, typeUrl: typeof CLUSTER): TypeRecord => {
    const record = stream.record?.types.get(typeUrl);
    if (!record) throw new Error(`no record for ${typeUrl}`);
    return record;
  };
  const heldVersion = (stream: MemoryStream, typeUrl: typeof CLUSTER, name: string) =>
    stream.session.resourcesHeld(typeUrl).find(([held]) => held === name)?.[1];
  /** Ports per cluster of a SotW EDS response. */
  const portsOf = (response: { resources?: Record<string, unknown>[] }) =>
    Object.fromEntries(
      (response.resources ?? []).map((r) => {
        const cla = r as { cluster_name: string; endpoints?: { lb_endpoints?: { endpoint: { address: { socket_address: { port_value: number } } } }[] }[] };
        return [cla.cluster_name, (cla.endpoints ?? []).flatMap((l) => (l.lb_endpoints ?? []).map((e) => e.endpoint.address.socket_address.port_value))];
      }),
    );
  const deltaVersions = (response: { resources?: Record<string, unknown>[] }) =>
    Object.fromEntries((response.resources ?? []).map((r) => [String(r.name), String(r.version)]));

  describe('only the first answer to a nonce is an ACK or NACK (Envoy keeps the nonce, clears error_detail)', () => {
    it('SotW CDS: the NACKed nonce repeated without error_detail is no ACK', async () => {
      const server = served(serviceYaml('a', [1001]));
      const stream = server.connect();
      const good = stream.send({ node: ENVOY_NODE, type_url: CLUSTER }).next();
      stream.ack(good);
      server.cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [2001])));
      const bad = stream.next();
      stream.send({ type_url: CLUSTER, response_nonce: bad.nonce, version_info: good.version_info, error_detail: { code: 3, message: 'cluster b rejected' } });
      stream.send({ type_url: CLUSTER, response_nonce: bad.nonce, version_info: good.version_info });
      expect(stream.pending()).toBe(0);
      const record = typeRecord(stream, CLUSTER);
      expect(record).toMatchObject({ ackedVersion: good.version_info, sentVersion: bad.version_info, lastResponseNacked: true });
      expect(statusOf(record)).toBe('NACKED');
      expect(await server.counter('acks', { type: 'CDS' })).toBe(1);
      expect(await server.counter('nacks', { type: 'CDS' })).toBe(1);
      expect(csdsRows(stream, CLUSTER).map((r) => [r.name, r.client_status])).toEqual([[A, 'NACKED']]);
    });

    it('SotW EDS: a list change carrying the NACKed nonce is served, and is no ACK', async () => {
      const server = served(serviceYaml('a', [1001]), serviceYaml('b', [2001]));
      const stream = server.connect();
      const first = stream.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names: [A] }).next();
      stream.ack(first, [A]);
      server.cache.setModel(mesh(serviceYaml('a', [1002]), serviceYaml('b', [2001])));
      const bad = stream.next();
      stream.nack(bad, 'bad a', [A]);
      const added = stream.send({ type_url: ENDPOINT, response_nonce: bad.nonce, version_info: first.version_info, resource_names: [A, B] }).next();
      expect(portsOf(added)).toEqual({ [B]: [2001] });
      expect(stream.pending()).toBe(0);
      const record = typeRecord(stream, ENDPOINT);
      expect(record.ackedVersion).toBe(first.version_info);
      expect(statusOf(record)).toBe('NACKED');
      expect(await server.counter('acks', { type: 'EDS' })).toBe(1);
      stream.ack(added, [A, B]);
      // b is taken; a is still held at 1001 because 1002 was rejected.
      expect(statusOf(record)).toBe('NACKED');
      expect(connectionJson(stream.record as NonNullable<typeof stream.record>).types[ENDPOINT]).toMatchObject({
        status: 'NACKED',
        ackedVersion: added.version_info,
        rejectedResources: [{ name: A, error: 'bad a' }],
      });
    });

    it('Delta EDS: a subscribe carrying the NACKed nonce is served, and is no ACK', async () => {
      const server = served(serviceYaml('a', [1001]), serviceYaml('c', [3001]));
      const stream = server.connect('delta');
      const first = stream.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names_subscribe: [A] }).next();
      stream.ack(first);
      server.cache.setModel(mesh(serviceYaml('a', [1002]), serviceYaml('c', [3001])));
      const bad = stream.next();
      stream.nack(bad, 'bad a');
      const added = stream.send({ type_url: ENDPOINT, response_nonce: bad.nonce, resource_names_subscribe: [C] }).next();
      expect(names(added)).toEqual([C]);
      expect(added.removed_resources ?? []).toEqual([]);
      expect(stream.pending()).toBe(0);
      const record = typeRecord(stream, ENDPOINT);
      expect(record.ackedVersion).toBe(first.system_version_info);
      expect(statusOf(record)).toBe('NACKED');
      expect(await server.counter('acks', { type: 'EDS' })).toBe(1);
    });
  });

  describe('a NACKed resource held back at its old version keeps the type NACKED after later ACKs', () => {
    it('SotW EDS: admin record, CSDS and the stream state say NACKED until a newer version is ACKed', () => {
      const server = served(serviceYaml('a', [1001]), serviceYaml('b', [2001]));
      const stream = server.connect();
      const first = stream.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names: [A, B] }).next();
      stream.ack(first, [A, B]);
      const aAccepted = heldVersion(stream, ENDPOINT, A);
      server.cache.setModel(mesh(serviceYaml('a', [1002]), serviceYaml('b', [2001])));
      const bad = stream.next();
      expect(portsOf(bad)).toEqual({ [A]: [1002] }); // one resource: its NACK blames it (several: see 'NACK isolation')
      stream.nack(bad, 'rejected a', [A, B]);
      server.cache.setModel(mesh(serviceYaml('a', [1002]), serviceYaml('b', [2003])));
      const onlyB = stream.next();
      expect(portsOf(onlyB)).toEqual({ [B]: [2003] }); // a's rejected version is not re-sent
      stream.ack(onlyB, [A, B]);
      expect(stream.pending()).toBe(0);

      const record = typeRecord(stream, ENDPOINT);
      const proxy = stream.record as NonNullable<typeof stream.record>;
      expect(statusOf(record)).toBe('NACKED');
      expect(streamStateOf(proxy)).toBe('NACKED');
      expect(connectionJson(proxy).types[ENDPOINT]).toMatchObject({
        status: 'NACKED',
        ackedVersion: onlyB.version_info,
        rejectedResources: [{ name: A, error: 'rejected a' }],
      });
      const rows = csdsRows(stream, ENDPOINT);
      expect(rows.map((r) => [r.name, r.version_info, r.config_status, r.client_status, r.error_state?.details])).toEqual([
        [A, aAccepted, 'ERROR', 'NACKED', 'rejected a'],
        [B, heldVersion(stream, ENDPOINT, B), 'SYNCED', 'ACKED', undefined],
      ]);

      // A newer version of a is sent; once ACKed, nothing is held back.
      server.cache.setModel(mesh(serviceYaml('a', [1004]), serviceYaml('b', [2003])));
      const fixed = stream.next();
      expect(portsOf(fixed)).toEqual({ [A]: [1004] });
      expect(statusOf(record)).toBe('STALE');
      stream.ack(fixed, [A, B]);
      expect(statusOf(record)).toBe('SYNCED');
      expect(streamStateOf(proxy)).toBe('SYNCED');
      expect(connectionJson(proxy).types[ENDPOINT]).toMatchObject({ status: 'SYNCED', rejectedResources: [] });
      expect(csdsRows(stream, ENDPOINT).map((r) => [r.name, r.client_status, r.error_state])).toEqual([
        [A, 'ACKED', undefined],
        [B, 'ACKED', undefined],
      ]);
    });

    it('SotW EDS: the cache going back to the version the client holds ends the rejection', () => {
      const server = served(serviceYaml('a', [1001]));
      const stream = server.connect();
      const first = stream.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names: [A] }).next();
      stream.ack(first, [A]);
      server.cache.setModel(mesh(serviceYaml('a', [1002])));
      stream.nack(stream.next(), 'bad a', [A]);
      server.cache.setModel(mesh(serviceYaml('a', [1001])));
      expect(stream.pending()).toBe(0); // the client holds exactly this
      expect(statusOf(typeRecord(stream, ENDPOINT))).toBe('NACKED'); // its last response is still the rejected one…
      expect(typeRecord(stream, ENDPOINT).rejected?.size).toBe(0); // …but nothing is held back any more
      server.cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [2001])));
      const added = stream.send({ type_url: ENDPOINT, resource_names: [A, B] }).next();
      expect(portsOf(added)).toEqual({ [B]: [2001] });
      stream.ack(added, [A, B]);
      expect(statusOf(typeRecord(stream, ENDPOINT))).toBe('SYNCED');
      expect(csdsRows(stream, ENDPOINT).map((r) => [r.name, r.client_status])).toEqual([
        [A, 'ACKED'],
        [B, 'ACKED'],
      ]);
      // The rejected version comes back: not re-sent, and a is held back again.
      server.cache.setModel(mesh(serviceYaml('a', [1002]), serviceYaml('b', [2001])));
      expect(stream.pending()).toBe(0);
      expect(statusOf(typeRecord(stream, ENDPOINT))).toBe('NACKED');
      expect(connectionJson(stream.record as NonNullable<typeof stream.record>).types[ENDPOINT]).toMatchObject({
        status: 'NACKED',
        rejectedResources: [{ name: A, error: 'bad a' }],
      });
    });

    it('Delta EDS: admin record and CSDS say NACKED for the held-back resource after a later ACK', () => {
      const server = served(serviceYaml('a', [1001]), serviceYaml('b', [2001]));
      const stream = server.connect('delta');
      const first = stream.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names_subscribe: [A, B] }).next();
      stream.ack(first);
      const accepted = deltaVersions(first);
      server.cache.setModel(mesh(serviceYaml('a', [1002]), serviceYaml('b', [2001])));
      const bad = stream.next();
      expect(names(bad)).toEqual([A]); // one resource: its NACK blames it (several: see 'NACK isolation')
      stream.nack(bad, 'bad a');
      server.cache.setModel(mesh(serviceYaml('a', [1002]), serviceYaml('b', [2003])));
      const onlyB = stream.next();
      expect(names(onlyB)).toEqual([B]);
      expect(onlyB.removed_resources ?? []).toEqual([]);
      stream.ack(onlyB);
      expect(stream.pending()).toBe(0);
      const record = typeRecord(stream, ENDPOINT);
      expect(statusOf(record)).toBe('NACKED');
      expect(record.lastResponseNacked).toBe(false);
      expect(connectionJson(stream.record as NonNullable<typeof stream.record>).types[ENDPOINT]).toMatchObject({
        status: 'NACKED',
        rejectedResources: [{ name: A, version: deltaVersions(bad)[A], error: 'bad a' }],
      });
      expect(csdsRows(stream, ENDPOINT).map((r) => [r.name, r.version_info, r.client_status, r.error_state?.details])).toEqual([
        [A, accepted[A], 'NACKED', 'bad a'],
        [B, deltaVersions(onlyB)[B], 'ACKED', undefined],
      ]);
      // The resource goes away: its removal is sent and, once ACKed, nothing is held back.
      server.cache.setModel(mesh(serviceYaml('b', [2003])));
      const removal = stream.next();
      expect(removal.removed_resources).toEqual([A]);
      stream.ack(removal);
      expect(statusOf(record)).toBe('SYNCED');
      expect(csdsRows(stream, ENDPOINT).map((r) => [r.name, r.client_status])).toEqual([[B, 'ACKED']]);
    });
  });

  it('Delta CDS wildcard: a rejected new cluster that leaves the mesh holds nothing back any more', () => {
    const server = served(serviceYaml('a', [1001]));
    const stream = server.connect('delta');
    stream.ack(stream.send({ node: ENVOY_NODE, type_url: CLUSTER }).next());
    server.cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [2001])));
    const bad = stream.next();
    expect(names(bad)).toEqual([B]);
    stream.nack(bad, 'bad b');
    const record = typeRecord(stream, CLUSTER);
    expect([...(record.rejected?.keys() ?? [])]).toEqual([B]);
    // CSDS names the rejected cluster, holding nothing.
    expect(csdsRows(stream, CLUSTER).map((r) => [r.name, r.version_info, r.client_status, r.error_state?.details])).toEqual([
      [A, heldVersion(stream, CLUSTER, A), 'NACKED', 'bad b'],
      [B, '', 'NACKED', 'bad b'],
    ]);
    server.cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('c', [3001])));
    const next = stream.next();
    expect(names(next)).toEqual([C]);
    expect(next.removed_resources ?? []).toEqual([]); // the client never held b
    stream.ack(next);
    expect(record.rejected?.size).toBe(0);
    expect(statusOf(record)).toBe('SYNCED');
  });

  describe('a rejected resource the client stops holding and asks for again is sent again', () => {
    it('SotW EDS: dropped from the list and added back, it is sent at its current version', () => {
      const server = served(serviceYaml('a', [1001]), serviceYaml('b', [2001]));
      const stream = server.connect();
      const first = stream.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names: [A, B] }).next();
      stream.ack(first, [A, B]);
      server.cache.setModel(mesh(serviceYaml('a', [1002]), serviceYaml('b', [2001])));
      const bad = stream.next();
      expect(portsOf(bad)).toEqual({ [A]: [1002] });
      stream.nack(bad, 'bad a', [A, B]);
      // Envoy: cluster a leaves CDS, so EDS asks for [b] (with the NACKed nonce); later a is back.
      stream.send({ type_url: ENDPOINT, response_nonce: bad.nonce, resource_names: [B] });
      expect(stream.pending()).toBe(0);
      expect(typeRecord(stream, ENDPOINT).rejected?.size).toBe(0);
      const again = stream.send({ type_url: ENDPOINT, response_nonce: bad.nonce, resource_names: [A, B] }).next();
      expect(portsOf(again)).toEqual({ [A]: [1002] });
      expect(typeRecord(stream, ENDPOINT)).toMatchObject({ sentVersion: again.version_info, lastResponseNacked: true }); // until it is answered
      const sentA = heldVersion(stream, ENDPOINT, A);
      // Rejected again: reported honestly, and not re-sent.
      stream.nack(again, 'still bad a', [A, B]);
      expect(statusOf(typeRecord(stream, ENDPOINT))).toBe('NACKED');
      // While the type's last response stands rejected, CSDS shows every row of the type NACKED (as before).
      expect(csdsRows(stream, ENDPOINT).map((r) => [r.name, r.client_status, r.error_state?.details])).toEqual([
        [A, 'NACKED', 'still bad a'],
        [B, 'NACKED', 'still bad a'],
      ]);
      expect(typeRecord(stream, ENDPOINT).rejected?.get(A)).toMatchObject({ version: sentA, error: 'still bad a' });
      stream.send({ type_url: ENDPOINT, response_nonce: again.nonce, resource_names: [A, B] });
      expect(stream.pending()).toBe(0);
    });

    it('Delta EDS: unsubscribed and subscribed again, it is sent at its current version; an ACK makes it SYNCED', () => {
      const server = served(serviceYaml('a', [1001]), serviceYaml('b', [2001]));
      const stream = server.connect('delta');
      const first = stream.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names_subscribe: [A, B] }).next();
      stream.ack(first);
      server.cache.setModel(mesh(serviceYaml('a', [1002]), serviceYaml('b', [2001])));
      const bad = stream.next();
      expect(names(bad)).toEqual([A]);
      stream.nack(bad, 'bad a');
      stream.send({ type_url: ENDPOINT, resource_names_unsubscribe: [A] });
      expect(stream.pending()).toBe(0); // an unsubscribe is not answered with a removal
      const again = stream.send({ type_url: ENDPOINT, resource_names_subscribe: [A] }).next();
      expect(deltaVersions(again)).toEqual({ [A]: deltaVersions(bad)[A] });
      expect(again.removed_resources ?? []).toEqual([]);
      const record = typeRecord(stream, ENDPOINT);
      expect(record).toMatchObject({ sentVersion: again.system_version_info, lastResponseNacked: true }); // until it is answered
      expect(record.rejected?.size).toBe(0);
      stream.ack(again);
      expect(statusOf(record)).toBe('SYNCED');
      expect(csdsRows(stream, ENDPOINT).map((r) => [r.name, r.version_info, r.client_status])).toEqual([
        [A, deltaVersions(bad)[A], 'ACKED'],
        [B, deltaVersions(first)[B], 'ACKED'],
      ]);
    });
  });

  it('SotW: a list with a repeated name is not taken for the same set ([a, a] after [a, b] drops b)', () => {
    const server = served(serviceYaml('a', [1001]), serviceYaml('b', [2001]));
    const stream = server.connect();
    const first = stream.send({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names: [A, B] }).next();
    stream.ack(first, [A, B]);
    stream.send({ type_url: ENDPOINT, resource_names: [A, A] });
    expect(stream.pending()).toBe(0);
    expect(stream.session.resourcesHeld(ENDPOINT).map(([name]) => name)).toEqual([A]);
    // b was dropped, so asking for it again sends it.
    const back = stream.send({ type_url: ENDPOINT, resource_names: [B, A] }).next();
    expect(portsOf(back)).toEqual({ [B]: [2001] });
    stream.ack(back, [B, A]);
    // The same names in another order are the same set: nothing is sent.
    stream.send({ type_url: ENDPOINT, resource_names: [A, B] });
    expect(stream.pending()).toBe(0);
  });
});

/**
 * NACK isolation: Envoy applies an EDS response cluster by cluster (and a Delta response
 * resource by resource), so a NACK of a response carrying several resources says one of
 * them is bad, not which: some were applied, some never reached. Each is re-sent alone,
 * and the answer to that single-resource response blames or clears exactly it.
 */
describe('NACK isolation: a NACK of several resources re-sends each alone', () => {
  const typeRecord = (stream: MemoryStream): TypeRecord => {
    const record = stream.record?.types.get(ENDPOINT);
    if (!record) throw new Error('no EDS record');
    return record;
  };
  const adminView = (stream: MemoryStream) => connectionJson(stream.record as NonNullable<typeof stream.record>).types[ENDPOINT];
  const portsOf = (response: { resources?: Record<string, unknown>[] }) =>
    Object.fromEntries(
      (response.resources ?? []).map((r) => {
        const cla = r as { cluster_name: string; endpoints?: { lb_endpoints?: { endpoint: { address: { socket_address: { port_value: number } } } }[] }[] };
        return [cla.cluster_name, (cla.endpoints ?? []).flatMap((l) => (l.lb_endpoints ?? []).map((e) => e.endpoint.address.socket_address.port_value))];
      }),
    );
  const deltaPorts = (response: { resources?: Record<string, unknown>[] }) =>
    Object.fromEntries(
      (response.resources ?? []).map((r) => {
        const cla = (r as { resource: Record<string, unknown> }).resource;
        return Object.entries(portsOf({ resources: [cla] }))[0] ?? ['', []];
      }),
    );

  for (const mode of ['sotw', 'delta'] as const) {
    const ports = mode === 'sotw' ? portsOf : deltaPorts;
    const subscribe = (stream: MemoryStream, list: string[]) =>
      stream.send(
        mode === 'sotw'
          ? { node: ENVOY_NODE, type_url: ENDPOINT, resource_names: list }
          : { node: ENVOY_NODE, type_url: ENDPOINT, resource_names_subscribe: list },
      );

    it(`${mode} EDS: the bad one first — the good one is ACKed alone and never listed; the bad one is rejected with its own error; fixed, SYNCED`, () => {
      const server = served(serviceYaml('a', [1001]), serviceYaml('b', [2001]));
      const stream = server.connect(mode);
      stream.ack(subscribe(stream, [A, B]).next(), [A, B]);
      server.cache.setModel(mesh(serviceYaml('a', [1002]), serviceYaml('b', [2002])));
      const both = stream.next();
      expect(ports(both)).toEqual({ [A]: [1002], [B]: [2002] });
      stream.nack(both, 'cluster a: malformed IP address', [A, B]);
      // Neither is blamed: both are suspects, and the type is NACKED meanwhile.
      expect(typeRecord(stream).rejected?.size ?? 0).toBe(0);
      expect(adminView(stream)).toMatchObject({ status: 'NACKED', rejectedResources: [], suspectResources: [{ name: A }, { name: B }] });
      // Re-sent one per response: a alone.
      const probeA = stream.next();
      expect(stream.pending()).toBe(0);
      expect(ports(probeA)).toEqual({ [A]: [1002] });
      stream.nack(probeA, 'a again: malformed IP address', [A, B]);
      // Then b alone, and a is now the one held back, with its own error.
      const probeB = stream.next();
      expect(ports(probeB)).toEqual({ [B]: [2002] });
      expect(adminView(stream)).toMatchObject({ status: 'NACKED', rejectedResources: [{ name: A, error: 'a again: malformed IP address' }] });
      stream.ack(probeB, [A, B]);
      expect(stream.pending()).toBe(0); // a's rejected version is not re-sent
      expect(statusOf(typeRecord(stream))).toBe('NACKED');
      expect(adminView(stream)).toMatchObject({
        status: 'NACKED',
        rejectedResources: [{ name: A, error: 'a again: malformed IP address' }],
        suspectResources: [],
      });
      // a fixed (a newer version): sent, ACKed, SYNCED.
      server.cache.setModel(mesh(serviceYaml('a', [1003]), serviceYaml('b', [2002])));
      const fixed = stream.next();
      expect(ports(fixed)).toEqual({ [A]: [1003] });
      stream.ack(fixed, [A, B]);
      expect(adminView(stream)).toMatchObject({ status: 'SYNCED', rejectedResources: [], suspectResources: [] });
    });

    it(`${mode} EDS: the bad one last — the valid update the client never reached is re-sent alone and ends SYNCED`, () => {
      const server = served(serviceYaml('a', [1001]), serviceYaml('b', [2001]));
      const stream = server.connect(mode);
      stream.ack(subscribe(stream, [A, B]).next(), [A, B]);
      server.cache.setModel(mesh(serviceYaml('a', [1002]), serviceYaml('b', [2002])));
      const both = stream.next();
      stream.nack(both, 'cluster b: malformed IP address', [A, B]);
      const heldA = () => stream.session.resourcesHeld(ENDPOINT).find(([name]) => name === A)?.[1];
      const probeA = stream.next();
      expect(ports(probeA)).toEqual({ [A]: [1002] }); // the valid update goes out again
      const aAfterProbe = heldA();
      stream.ack(probeA, [A, B]);
      // b is still a suspect: not SYNCED, and a is not blamed.
      expect(adminView(stream)).toMatchObject({ status: 'NACKED', rejectedResources: [], suspectResources: [{ name: B }] });
      const probeB = stream.next();
      expect(ports(probeB)).toEqual({ [B]: [2002] });
      stream.nack(probeB, 'b again', [A, B]);
      expect(stream.pending()).toBe(0);
      expect(adminView(stream)).toMatchObject({ status: 'NACKED', rejectedResources: [{ name: B, error: 'b again' }], suspectResources: [] });
      // a stays held at the version its re-send carried (the b NACK undid only b).
      expect(heldA()).toBe(aAfterProbe);
      server.cache.setModel(mesh(serviceYaml('a', [1002]), serviceYaml('b', [2003])));
      const fixed = stream.next();
      expect(ports(fixed)).toEqual({ [B]: [2003] });
      stream.ack(fixed, [A, B]);
      expect(stream.pending()).toBe(0);
      expect(adminView(stream)).toMatchObject({ status: 'SYNCED', rejectedResources: [], suspectResources: [] });
    });

    it(`${mode} EDS: suspects never hold back a change — another resource's change goes before the next re-send, a changed suspect goes out normally`, () => {
      const server = served(serviceYaml('a', [1001]), serviceYaml('b', [2001]), serviceYaml('c', [3001]));
      const stream = server.connect(mode);
      stream.ack(subscribe(stream, [A, B, C]).next(), [A, B, C]);
      server.cache.setModel(mesh(serviceYaml('a', [1002]), serviceYaml('b', [2002]), serviceYaml('c', [3001])));
      stream.nack(stream.next(), 'one of a, b is bad', [A, B, C]);
      const probeA = stream.next();
      expect(ports(probeA)).toEqual({ [A]: [1002] });
      // While a's re-send is unanswered, c changes and b gets a newer version: one response at a time per type.
      server.cache.setModel(mesh(serviceYaml('a', [1002]), serviceYaml('b', [2003]), serviceYaml('c', [3002])));
      expect(stream.pending()).toBe(0);
      stream.ack(probeA, [A, B, C]);
      // The change goes out normally; b's newer version is no suspect and travels with it.
      const change = stream.next();
      expect(ports(change)).toEqual({ [B]: [2003], [C]: [3002] });
      expect(adminView(stream)).toMatchObject({ suspectResources: [] });
      stream.ack(change, [A, B, C]);
      expect(stream.pending()).toBe(0);
      expect(adminView(stream)).toMatchObject({ status: 'SYNCED', rejectedResources: [], suspectResources: [] });
    });
  }

  it('SotW CDS keeps rejecting the whole set (one state), Delta CDS isolates', () => {
    const server = served(serviceYaml('a', [1001]));
    const sotw = server.connect();
    sotw.ack(sotw.send({ node: ENVOY_NODE, type_url: CLUSTER }).next());
    const delta = server.connect('delta');
    delta.ack(delta.send({ node: { ...ENVOY_NODE, id: 'delta' }, type_url: CLUSTER }).next());
    server.cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [2001]), serviceYaml('c', [3001])));
    sotw.nack(sotw.next(), 'cluster b rejected');
    expect(sotw.pending()).toBe(0);
    const both = delta.next();
    expect(names(both).sort()).toEqual([B, C]);
    delta.nack(both, 'cluster b rejected');
    expect(names(delta.next())).toEqual([B]);
    expect(delta.pending()).toBe(0);
  });
});
