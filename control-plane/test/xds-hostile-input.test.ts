/**
 * Hostile input a reviewer reproduced against the xDS server, each on a real XdsServer
 * on loopback with grpc-js clients: requests written while authentication is still in
 * progress, a CSDS stream flooded with requests by a client that never reads, and a
 * workload claiming another workload's node id.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CLUSTER, decodeDiscoveryResponse, encodeDiscoveryRequest } from '@meshcp/xds-protos';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CallCredentialsView, StreamAuthenticator } from '../src/auth/authenticator.js';
import { namespacesInNodeId, type StreamIdentity } from '../src/auth/identity.js';
import { MeshCertificateProvider, meshServerCredentials } from '../src/auth/tls.js';
import { SnapshotCache } from '../src/cache/snapshot-cache.js';
import { CertificateAuthority } from '../src/identity/ca.js';
import { FileCaStore } from '../src/identity/file-store.js';
import { Metrics } from '../src/metrics.js';
import { Status } from '../src/xds/admission.js';
import { CSDS_COLLECT_INTERVAL_MS, CsdsBacklogFull, CsdsStream, MAX_WAITING_QUERIES } from '../src/xds/csds-stream.js';
import { XdsServer } from '../src/xds/server.js';
import { decodeResponse, encodeRequest } from './csds-client.js';
import { ENVOY_NODE, mesh, serviceYaml } from './fixtures.js';
import { XdsTestClient } from './xds-client.js';

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const CSDS = '/envoy.service.status.v3.ClientStatusDiscoveryService/StreamClientStatus';
const identityBytes = (b: Buffer) => b;

function servicesYaml(count: number): string[] {
  return Array.from({ length: count }, (_, i) => serviceYaml(`s${i}`, [1000 + i]));
}

async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function statusOf(call: grpc.ClientDuplexStream<Buffer, Buffer>): Promise<grpc.StatusObject> {
  return new Promise((resolve) => call.on('status', resolve));
}

/** An authenticator whose verdict waits for the test (a TokenReview that takes its time). */
class SlowAuthenticator extends StreamAuthenticator {
  private release!: () => void;
  private readonly verdict = new Promise<void>((resolve) => {
    this.release = resolve;
  });
  constructor() {
    super({ allowUnauthenticated: true, trustDomain: 'cluster.local' });
  }
  override async authenticate(_call: CallCredentialsView): Promise<StreamIdentity> {
    await this.verdict;
    return { method: 'token', namespace: 'shop', serviceAccount: 'web', spiffeId: 'spiffe://cluster.local/ns/shop/sa/web' };
  }
  resolve(): void {
    this.release();
  }
}

describe('requests written while a stream authenticates', () => {
  let server: XdsServer;
  let client: grpc.Client;
  afterEach(async () => {
    client?.close();
    await server?.stop();
  });

  it('are held by flow control, not buffered: a client writing 3.9 MB requests moves a few of them; the stream is served once the identity is known', async () => {
    const metrics = new Metrics();
    const cache = new SnapshotCache(metrics);
    cache.setModel(mesh(serviceYaml('a', [1001])));
    const authenticator = new SlowAuthenticator();
    server = new XdsServer(cache, metrics, { authenticator });
    const port = await server.start('127.0.0.1:0');
    client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': -1 });

    // An honest proxy asks before its identity is known and is answered after.
    const honest = client.makeBidiStreamRequest(ADS, identityBytes, identityBytes);
    const answered = new Promise<Buffer>((resolve) => honest.once('data', resolve));
    honest.on('error', () => undefined);
    honest.write(encodeDiscoveryRequest({ node: ENVOY_NODE, type_url: CLUSTER }));

    // The flood: 3.9 MB requests as fast as the transport takes them, for 2 s.
    const flood = client.makeBidiStreamRequest(ADS, identityBytes, identityBytes);
    flood.on('error', () => undefined);
    flood.on('data', () => undefined);
    const big = encodeDiscoveryRequest({ node: { ...ENVOY_NODE, id: 'flood' }, type_url: CLUSTER, version_info: 'x'.repeat(3_900_000) });
    const memoryBefore = process.memoryUsage();
    let taken = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await new Promise<void>((resolve) => flood.write(big, () => resolve()));
        taken++;
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const takenBeforeAuth = taken;
    const memoryDuring = process.memoryUsage();
    writing = false;
    const grownMb = (memoryDuring.arrayBuffers + memoryDuring.external - memoryBefore.arrayBuffers - memoryBefore.external) / 1e6;
    process.stdout.write(`pre-auth flood: ${takenBeforeAuth} × 3.9 MB requests taken by the transport in 2 s; external memory +${grownMb.toFixed(0)} MB\n`);
    // Unbounded, the server read every one (≈ 150 MB/s here); bounded, the stream's window holds a few.
    expect(takenBeforeAuth).toBeLessThanOrEqual(8);
    expect(grownMb).toBeLessThan(100);
    expect(server.openStreams()).toBe(2);

    authenticator.resolve();
    const response = decodeDiscoveryResponse(await answered);
    expect(response.type_url).toBe(CLUSTER);
    expect(response.resources?.length).toBe(1);
    // The flood's stream is read now: its requests go through admission like any other.
    await until('the flood is read after authentication', () => taken > takenBeforeAuth);
    flood.cancel();
    await writer.catch(() => undefined);
  });
});

describe('a CSDS stream flooded by a client that never reads', () => {
  let server: XdsServer;
  let metrics: Metrics;
  let port: number;
  const proxies: XdsTestClient[] = [];
  const clients: grpc.Client[] = [];

  beforeAll(async () => {
    metrics = new Metrics();
    const cache = new SnapshotCache(metrics);
    cache.setModel(mesh(...servicesYaml(200)));
    server = new XdsServer(cache, metrics, { writeDeadlineMs: 1500 });
    port = await server.start('127.0.0.1:0');
    // Four proxies hold 200 clusters each: one fleet answer is ≈ 100 KB, more than a stream's window.
    for (let i = 0; i < 4; i++) {
      const proxy = new XdsTestClient(port, 'sotw', undefined, { ownConnection: true });
      proxies.push(proxy);
      proxy.send({ node: { ...ENVOY_NODE, id: `p${i}` }, type_url: CLUSTER });
      const clusters = await proxy.next();
      proxy.send({ type_url: CLUSTER, version_info: clusters.version_info, response_nonce: clusters.nonce });
    }
    await until(
      'four proxies synced',
      () => server.connections().every((r) => r.types.get(CLUSTER)?.ackedVersion !== undefined) && server.connections().length === 4,
    );
  });

  afterAll(async () => {
    for (const proxy of proxies) proxy.close();
    for (const client of clients) client.close();
    await server?.stop();
  });

  const newClient = () => {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    clients.push(client);
    return client;
  };

  it('builds a few answers, not one per request; other clients are served meanwhile; the stalled stream is reset at the write deadline', async () => {
    const builtBefore = server.csdsAnswersBuilt;
    const memoryBefore = process.memoryUsage();
    // A raw HTTP/2 client that never reads its stream (grpc-js's client reads into its own buffer whatever the application does).
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
    const csds = session.request({ ':method': 'POST', ':path': CSDS, 'content-type': 'application/grpc', te: 'trailers' });
    csds.pause();
    const reset = new Promise<number>((resolve) => csds.once('close', () => resolve(csds.rstCode ?? -1)));
    const emptyRequest = Buffer.alloc(5); // a gRPC frame holding an empty ClientStatusRequest
    for (let batch = 0; batch < 10; batch++) {
      for (let k = 0; k < 200; k++) csds.write(emptyRequest);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // Meanwhile a new proxy connects and is answered.
    const proxy = new XdsTestClient(port, 'sotw', undefined, { ownConnection: true });
    proxies.push(proxy);
    const started = performance.now();
    proxy.send({ node: { ...ENVOY_NODE, id: 'newcomer' }, type_url: CLUSTER });
    expect((await proxy.next(10_000)).resources?.length).toBe(200);
    const newcomerMs = performance.now() - started;

    const deadlineResets = async () => (await metrics.ignoredRequests.get()).values.find((v) => v.labels.reason === 'csds_write_deadline')?.value ?? 0;
    const resetsDeadline = Date.now() + 10_000;
    while ((await deadlineResets()) < 1 && Date.now() < resetsDeadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const built = server.csdsAnswersBuilt - builtBefore;
    const memoryAfter = process.memoryUsage();
    const grownMb = (memoryAfter.arrayBuffers + memoryAfter.external - memoryBefore.arrayBuffers - memoryBefore.external) / 1e6;
    process.stdout.write(
      `CSDS flood: 2,000 requests → ${built} answers built; newcomer answered in ${newcomerMs.toFixed(0)} ms; external memory +${grownMb.toFixed(0)} MB\n`,
    );
    // One per request was 2,000 answers (≈ 200 MB); the same query repeated while one is waiting is one answer.
    expect(built).toBeGreaterThanOrEqual(1);
    expect(built).toBeLessThanOrEqual(12);
    expect(grownMb).toBeLessThan(64);
    expect(await deadlineResets()).toBe(1);
    expect(await reset).toBe(http2.constants.NGHTTP2_CANCEL);
    session.destroy();
  });

  it('a pipelining client gets one answer per distinct query, in order; more than 16 different queries waiting is RESOURCE_EXHAUSTED', async () => {
    const pipelined = newClient().makeBidiStreamRequest(CSDS, identityBytes, identityBytes);
    const answers: string[][] = [];
    pipelined.on('data', (bytes: Buffer) => answers.push((decodeResponse(bytes).config ?? []).map((c) => String(c.node?.id))));
    pipelined.on('error', () => undefined);
    for (const id of ['p0', 'p1', 'p2']) pipelined.write(encodeRequest({ node_matchers: [{ node_id: { exact: id } }] }));
    await until('three answers', () => answers.length === 3);
    expect(answers).toEqual([['p0'], ['p1'], ['p2']]);
    pipelined.end();

    // A client that takes no answer: the first is in progress, 16 different queries wait, the 17th is refused; repeats fold.
    const answered: string[] = [];
    const failures: unknown[] = [];
    const stuckCall = { write: (_response: Buffer, _taken: () => void) => true } as unknown as ConstructorParameters<typeof CsdsStream>[0];
    const stream = new CsdsStream(stuckCall, Promise.resolve(true), {
      answer: async (request) => {
        answered.push(request.toString());
        return request;
      },
      fail: (error) => failures.push(error),
      stalled: () => undefined,
      writeDeadlineMs: 60_000,
    });
    stream.receive(Buffer.from('q0'));
    await until('the first answer is being written', () => answered.length === 1);
    for (let round = 0; round < 3; round++) for (let i = 1; i <= MAX_WAITING_QUERIES; i++) stream.receive(Buffer.from(`q${i}`));
    expect(failures).toEqual([]);
    stream.receive(Buffer.from('one too many'));
    expect(failures).toHaveLength(1);
    expect(failures[0]).toBeInstanceOf(CsdsBacklogFull);
    expect(String((failures[0] as Error).message)).toMatch(/more than 16 different client status queries/);
    stream.close();
  });

  it('a reading client gets its newest answer for each query it repeats (a repeat waiting is folded into one answer), also when it half-closes right after', async () => {
    const csds = newClient().makeBidiStreamRequest(CSDS, identityBytes, identityBytes);
    const answers: string[][] = [];
    csds.on('data', (bytes: Buffer) => answers.push((decodeResponse(bytes).config ?? []).map((c) => String(c.node?.id))));
    csds.on('error', () => undefined);
    for (let round = 0; round < 50; round++) for (const id of ['p0', 'p1', 'p2']) csds.write(encodeRequest({ node_matchers: [{ node_id: { exact: id } }] }));
    csds.write(encodeRequest({ node_matchers: [{ node_id: { exact: 'p3' } }] }));
    await until('the newest request is answered', () => answers.at(-1)?.[0] === 'p3');
    expect(answers.length).toBeLessThan(151);
    expect(answers.at(-1)).toEqual(['p3']);
    // A request followed at once by a half-close is still answered before the stream ends.
    const ended = statusOf(csds);
    const before = answers.length;
    csds.write(encodeRequest({ node_matchers: [{ node_id: { exact: 'p1' } }] }));
    csds.end();
    expect((await ended).code).toBe(grpc.status.OK);
    expect(answers.slice(before)).toEqual([['p1']]);
  });

  it('fleet collections (every worker answers one) start at most once per interval and are shared by the requests asked before they start', async () => {
    let collections = 0;
    const localMetrics = new Metrics();
    const cache = new SnapshotCache(localMetrics);
    cache.setModel(mesh(serviceYaml('a', [1001])));
    let fleetServer: XdsServer | undefined;
    fleetServer = new XdsServer(cache, localMetrics, {
      csdsFleet: async () => {
        collections++;
        await new Promise((resolve) => setTimeout(resolve, 20));
        return fleetServer as XdsServer;
      },
    });
    const fleetPort = await fleetServer.start('127.0.0.1:0');
    try {
      const started = performance.now();
      const streams = Array.from({ length: 8 }, () => {
        const client = new grpc.Client(`127.0.0.1:${fleetPort}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
        clients.push(client);
        const call = client.makeBidiStreamRequest(CSDS, identityBytes, identityBytes);
        let answers = 0;
        call.on('data', () => answers++);
        call.on('error', () => undefined);
        return { call, answers: () => answers };
      });
      for (let round = 0; round < 100; round++) for (const { call } of streams) call.write(encodeRequest({}));
      await until('every stream answered', () => streams.every((s) => s.answers() > 0));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const elapsed = performance.now() - started;
      process.stdout.write(`fleet collections: ${collections} for 800 requests on 8 streams in ${elapsed.toFixed(0)} ms\n`);
      // Starts are ≥ the interval apart: never more than elapsed / interval + 1.
      expect(collections).toBeGreaterThanOrEqual(1);
      expect(collections).toBeLessThanOrEqual(Math.floor(elapsed / CSDS_COLLECT_INTERVAL_MS) + 1);
      for (const { call } of streams) call.end();
    } finally {
      await fleetServer.stop();
    }
  });
});

describe('a workload claiming another workload’s node id', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshcp-node-id-'));
  let ca: CertificateAuthority;
  let provider: MeshCertificateProvider;
  let server: XdsServer;
  let port: number;
  const clients: grpc.Client[] = [];
  const credentials = new Map<string, grpc.ChannelCredentials>();

  beforeAll(async () => {
    ca = await CertificateAuthority.open({ trustDomain: 'cluster.local', store: new FileCaStore(join(dir, 'ca.json')) });
    provider = new MeshCertificateProvider(ca, { dns: ['localhost'], ips: ['127.0.0.1'], spiffeId: 'spiffe://cluster.local/ns/meshcp-system/sa/meshcp' });
    await provider.start();
    const authenticator = new StreamAuthenticator({ allowUnauthenticated: false, trustDomain: 'cluster.local', trustBundle: () => ca.trustBundle() });
    const metrics = new Metrics();
    const cache = new SnapshotCache(metrics);
    cache.setModel(mesh(serviceYaml('a', [1001])));
    server = new XdsServer(cache, metrics, { credentials: meshServerCredentials(provider), authenticator });
    port = await server.start('127.0.0.1:0');
    const roots = Buffer.from(ca.trustBundle().join('\n'));
    for (const [namespace, serviceAccount] of [
      ['shop', 'web'],
      ['evil', 'attacker'],
    ] as const) {
      const svid = await ca.issue({ trustDomain: 'cluster.local', namespace, serviceAccount });
      writeFileSync(join(dir, `${namespace}.crt`), svid.certificateChainPem);
      credentials.set(namespace, grpc.credentials.createSsl(roots, Buffer.from(svid.privateKeyPem), Buffer.from(svid.certificateChainPem)));
    }
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    provider?.stop();
    await server?.stop();
  });

  /** A stream of the workload `namespace` on a connection of its own; resolves with its first response or its status. */
  function open(
    namespace: 'shop' | 'evil',
    node: object,
  ): { call: grpc.ClientDuplexStream<Buffer, Buffer>; outcome: Promise<{ response?: unknown; status?: grpc.StatusObject }> } {
    const client = new grpc.Client(`localhost:${port}`, credentials.get(namespace) as grpc.ChannelCredentials, { 'grpc.use_local_subchannel_pool': 1 });
    clients.push(client);
    const call = client.makeBidiStreamRequest(ADS, identityBytes, identityBytes);
    const outcome = new Promise<{ response?: unknown; status?: grpc.StatusObject }>((resolve) => {
      call.once('data', (bytes: Buffer) => resolve({ response: decodeDiscoveryResponse(bytes) }));
      call.on('status', (status) => resolve({ status }));
    });
    call.on('error', () => undefined);
    call.write(encodeDiscoveryRequest({ node, type_url: CLUSTER }));
    return { call, outcome };
  }

  it('streams of another identity claiming a node id count against their own limit, never the node’s owner', async () => {
    const nodeId = 'web-1';
    const attackers = Array.from({ length: 8 }, () => open('evil', { id: nodeId, user_agent_name: 'envoy' }));
    for (const attacker of attackers) expect((await attacker.outcome).response).toBeDefined();
    // The attacker's ninth stream is over its own limit…
    const ninth = await open('evil', { id: nodeId, user_agent_name: 'envoy' }).outcome;
    expect(ninth.status?.code).toBe(Status.RESOURCE_EXHAUSTED);
    // …and the owner still gets its config.
    const owner = await open('shop', { id: nodeId, user_agent_name: 'envoy', metadata: { 'meshcp.namespace': 'shop' } }).outcome;
    expect(owner.status).toBeUndefined();
    expect(owner.response).toMatchObject({ type_url: CLUSTER });
    const shop: StreamIdentity = { method: 'certificate', namespace: 'shop', serviceAccount: 'web', spiffeId: 'spiffe://cluster.local/ns/shop/sa/web' };
    const evil: StreamIdentity = {
      method: 'certificate',
      namespace: 'evil',
      serviceAccount: 'attacker',
      spiffeId: 'spiffe://cluster.local/ns/evil/sa/attacker',
    };
    expect(server.admission.openStreams(nodeId, shop)).toBe(1);
    expect(server.admission.openStreams(nodeId, evil)).toBe(8);
    // The records say who is who; CSDS lists the two workloads apart.
    const records = server.connections().filter((r) => r.nodeId === nodeId);
    expect(records.filter((r) => r.identity === shop.spiffeId)).toHaveLength(1);
    expect(records.filter((r) => r.identity === evil.spiffeId)).toHaveLength(8);
    for (const attacker of attackers) attacker.call.cancel();
  });

  it('a node id in Istio’s form naming another namespace is refused with PERMISSION_DENIED; the owner’s is admitted; dotted ids are not read', async () => {
    const id = 'sidecar~10.0.0.5~web-7d9f.shop~shop.svc.cluster.local';
    const impostor = await open('evil', { id, user_agent_name: 'envoy' }).outcome;
    expect(impostor.status?.code).toBe(Status.PERMISSION_DENIED);
    expect(impostor.status?.details).toContain('names namespace "shop" but the stream authenticated as spiffe://cluster.local/ns/evil/sa/attacker');
    const owner = await open('shop', { id, user_agent_name: 'envoy' }).outcome;
    expect(owner.response).toMatchObject({ type_url: CLUSTER });
    expect(server.connections().some((r) => r.identity.includes('/ns/evil/') && r.nodeId === id)).toBe(false);
    // VM host names look like `<pod>.<namespace>`: admitted whatever namespace the stream authenticated in.
    for (const vm of ['web.prod', 'vm1.internal'])
      expect((await open('shop', { id: vm, user_agent_name: 'envoy' }).outcome).response).toMatchObject({ type_url: CLUSTER });
  });

  it('reads the namespace only from node ids of the forms that carry one', () => {
    expect(namespacesInNodeId('web-7d9f.shop')).toEqual([]);
    expect(namespacesInNodeId('sidecar~10.0.0.5~web-7d9f.shop~shop.svc.cluster.local')).toEqual(['shop', 'shop']);
    expect(namespacesInNodeId('sidecar~10.0.0.5~web-7d9f.evil~shop.svc.cluster.local')).toEqual(['evil', 'shop']);
    for (const id of ['web-1', 'node-old', '10.0.0.5', 'web-1.40.0', 'Web.Shop', '']) expect(namespacesInNodeId(id)).toEqual([]);
  });
});
