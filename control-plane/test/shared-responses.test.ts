/**
 * Streams that are sent the same content share one encoded response (bytes and nonce);
 * streams that differ in any input of the response never do.
 */
import { CLUSTER, type DecodedResponse, decodeDeltaDiscoveryResponse, decodeDiscoveryResponse, ENDPOINT } from '@meshcp/xds-protos';
import { describe, expect, it } from 'vitest';
import { SharedResponses } from '../src/xds/shared-responses.js';
import { ENVOY_NODE, mesh, serviceYaml } from './fixtures.js';
import { MemoryServer, type MemoryStream } from './memory-stream.js';

const EDS = ['a.shop:8080', 'b.shop:8080'];
const nodeIn = (id: string, zone: string) => ({ ...ENVOY_NODE, id, locality: { region: 'eu', zone } });

function sotwSynced(server: MemoryServer, id: string, zone = 'eu-1a'): { stream: MemoryStream; cds: Buffer; eds: Buffer } {
  const stream = server.connect('sotw');
  const cds = stream.send({ node: nodeIn(id, zone), type_url: CLUSTER }).nextBytes();
  stream.ack(decodeDiscoveryResponse(cds));
  const eds = stream.send({ type_url: ENDPOINT, resource_names: EDS }).nextBytes();
  stream.ack(decodeDiscoveryResponse(eds), EDS);
  return { stream, cds, eds };
}

describe('responses shared between streams', () => {
  const model = () => mesh(serviceYaml('a', [1001, 1002], 'shop', 'eu-1a'), serviceYaml('b', [2001], 'shop', 'eu-1b'));

  it('SotW streams of one variant are sent the very same bytes and nonce; another zone gets its own EDS', async () => {
    const server = new MemoryServer();
    server.cache.setModel(model());
    const one = sotwSynced(server, 'one');
    const two = sotwSynced(server, 'two');
    const elsewhere = sotwSynced(server, 'three', 'eu-1b');
    expect(two.cds).toBe(one.cds);
    expect(two.eds).toBe(one.eds);
    expect(decodeDiscoveryResponse(two.eds).nonce).toBe(decodeDiscoveryResponse(one.eds).nonce);
    // Stream two's CDS and EDS, and three's CDS, were bytes encoded for stream one.
    expect(await server.counter('sharedResponses', {})).toBe(3);
    // Clusters do not depend on the zone; endpoints do (priorities by locality).
    expect(elsewhere.cds).toBe(one.cds);
    expect(elsewhere.eds).not.toBe(one.eds);
    expect(decodeDiscoveryResponse(elsewhere.eds).nonce).not.toBe(decodeDiscoveryResponse(one.eds).nonce);

    // A change reaches both with one shared update, and it is what a private encoding would carry.
    server.cache.setModel(mesh(serviceYaml('a', [1001, 1003], 'shop', 'eu-1a'), serviceYaml('b', [2001], 'shop', 'eu-1b')));
    const updateOne = one.stream.nextBytes();
    const updateTwo = two.stream.nextBytes();
    expect(updateTwo).toBe(updateOne);
    const decoded: DecodedResponse = decodeDiscoveryResponse(updateOne);
    expect(decoded.type_url).toBe(ENDPOINT);
    expect(decoded.nonce).not.toBe(decodeDiscoveryResponse(one.eds).nonce);
    expect(JSON.stringify(decoded.resources)).toContain('1003');
  });

  it('a stream that rejected a response takes its own path from there', () => {
    const server = new MemoryServer();
    server.cache.setModel(model());
    const one = sotwSynced(server, 'one');
    const two = sotwSynced(server, 'two');
    server.cache.setModel(mesh(serviceYaml('a', [1001, 1003], 'shop', 'eu-1a'), serviceYaml('b', [2001], 'shop', 'eu-1b')));
    one.stream.nack(decodeDiscoveryResponse(one.stream.nextBytes()), 'rejected', EDS);
    two.stream.ack(decodeDiscoveryResponse(two.stream.nextBytes()), EDS);
    server.cache.setModel(mesh(serviceYaml('a', [1001, 1004], 'shop', 'eu-1a'), serviceYaml('b', [2001], 'shop', 'eu-1b')));
    const afterNack = decodeDiscoveryResponse(one.stream.nextBytes());
    const afterAck = decodeDiscoveryResponse(two.stream.nextBytes());
    // Same endpoints now, but they hold different sets before it: different versions and nonces.
    expect(afterNack.resources).toEqual(afterAck.resources);
    expect(afterNack.nonce).not.toBe(afterAck.nonce);
    expect(afterNack.version_info).toBe(afterAck.version_info);
  });

  it("a full set sent again after a subscription change never repeats one of the stream's nonces", () => {
    const server = new MemoryServer();
    server.cache.setModel(model());
    const stream = server.connect('sotw');
    const nonces: string[] = [];
    let response = decodeDiscoveryResponse(stream.send({ node: ENVOY_NODE, type_url: CLUSTER, resource_names: ['*'] }).nextBytes());
    nonces.push(response.nonce);
    for (const extra of ['x', 'y', 'z', 'w']) {
      stream.ack(response, ['*', extra]);
      response = decodeDiscoveryResponse(stream.nextBytes());
      nonces.push(response.nonce);
    }
    expect(new Set(nonces).size).toBe(nonces.length);
  });

  it('Delta streams of one variant share their responses too', () => {
    const server = new MemoryServer();
    server.cache.setModel(model());
    const sent = ['d1', 'd2'].map((id) => {
      const stream = server.connect('delta');
      const cds = stream.send({ node: nodeIn(id, 'eu-1a'), type_url: CLUSTER }).nextBytes();
      stream.ack(decodeDeltaDiscoveryResponse(cds));
      const eds = stream.send({ type_url: ENDPOINT, resource_names_subscribe: EDS }).nextBytes();
      return { cds, eds };
    });
    expect(sent[1]?.cds).toBe(sent[0]?.cds);
    expect(sent[1]?.eds).toBe(sent[0]?.eds);
    expect(
      decodeDeltaDiscoveryResponse(sent[0]?.eds as Buffer)
        .resources.map((r) => r.name)
        .sort(),
    ).toEqual(EDS);
  });
});

describe('SharedResponses', () => {
  it('does not hand a stream its own latest nonce again, and stays within its byte limit', () => {
    const shared = new SharedResponses({ idleMs: 60_000, maxBytes: 800 });
    const first = shared.get('k', undefined, () => Buffer.alloc(100));
    expect(first?.nonce).toMatch(/^s\d+$/);
    expect(first?.reused).toBe(false);
    const again = shared.get('k', undefined, () => Buffer.alloc(100));
    expect(again?.bytes).toBe(first?.bytes);
    expect(again?.nonce).toBe(first?.nonce);
    expect(again?.reused).toBe(true);
    expect(shared.get('k', first?.nonce, () => Buffer.alloc(100))).toBeUndefined();
    // Larger than an eighth of the budget: sent, never kept.
    expect(shared.get('large', undefined, () => Buffer.alloc(101))?.bytes.length).toBe(101);
    expect(shared.size).toEqual({ entries: 1, bytes: 100 });
    for (let i = 0; i < 8; i++) shared.get(`other${i}`, undefined, () => Buffer.alloc(100));
    // 900 bytes > 800: the least recently used ('k') went.
    expect(shared.size).toEqual({ entries: 8, bytes: 800 });
    let encoded = 0;
    shared.get('k', undefined, () => {
      encoded++;
      return Buffer.alloc(10);
    });
    expect(encoded).toBe(1);
  });

  it('drops entries unused for longer than its idle time', async () => {
    const shared = new SharedResponses({ idleMs: 20, maxBytes: 1e9 });
    shared.get('k', undefined, () => Buffer.alloc(10));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(shared.size.entries).toBe(0);
  });
});
