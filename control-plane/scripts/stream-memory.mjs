#!/usr/bin/env node
/**
 * Memory a synced SotW stream holds beyond the shared snapshot (issue 14, item 2).
 *
 *   node control-plane/scripts/stream-memory.mjs [--file MESH.yaml] [--streams 500]
 *
 * Starts the xDS server (SnapshotCache + XdsServer, as the bench does) in a child
 * process with --expose-gc, connects one warm-up stream per zone (so every variant is
 * built: that is the shared snapshot), measures, then connects N grpc-js ADS clients
 * on their own connections that subscribe like Envoy (wildcard CDS and LDS, then EDS
 * for every cluster) and ACK everything; once every one has ACKed its EDS it measures
 * again after a full GC. Prints heap, external (Buffers) and RSS per stream, and the
 * RSS still kept once those streams closed (the allocator's, not the streams').
 * --storm connects them all at once (a fleet start) instead of 50 at a time.
 * Default mesh: the bench's workload (1,000 services × 10 endpoints, `npm run bench` writes it).
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { parseManifests } from '@meshcp/translators';
import { CLUSTER, decodeDiscoveryResponse, ENDPOINT, encodeDiscoveryRequest, LISTENER } from '@meshcp/xds-protos';
import { parseAllDocuments } from 'yaml';

const ZONES = ['eu-1a', 'eu-1b', 'eu-1c'];
const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

async function server(file) {
  const { Metrics, SnapshotCache, XdsServer } = await import('../dist/index.js');
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const parsed = parseManifests(docs.map((d) => ({ source: file, doc: d.toJS() })));
  const metrics = new Metrics();
  const cache = new SnapshotCache(metrics);
  const xds = new XdsServer(cache, metrics);
  cache.setModel(parsed.model);
  const xdsPort = await xds.start('127.0.0.1:0');
  const http = createServer((_req, res) => {
    for (let i = 0; i < 4; i++) globalThis.gc?.();
    res.end(JSON.stringify({ ...process.memoryUsage(), streams: xds.openStreams() }));
  });
  http.listen(0, '127.0.0.1', () => process.send?.({ xdsPort, memPort: http.address().port }));
}

/** One Envoy-like SotW stream: wildcard CDS + LDS, EDS for every cluster; resolves when EDS is ACKed. */
function envoyLike(port, id, zone) {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  const call = client.makeBidiStreamRequest(
    ADS,
    (b) => b,
    (b) => b,
  );
  const node = {
    id,
    cluster: 'bench',
    locality: { region: 'eu', zone },
    user_agent_name: 'envoy',
    user_agent_build_version: { version: { major_number: 1, minor_number: 40, patch: 0 } },
    metadata: { 'meshcp.namespace': 'shop' },
  };
  const send = (request) => call.write(encodeDiscoveryRequest(request));
  let edsNames = [];
  const synced = new Promise((resolve, reject) => {
    call.on('data', (bytes) => {
      const response = decodeDiscoveryResponse(bytes);
      if (response.type_url === CLUSTER) {
        edsNames = (response.resources ?? []).map((r) => r.name);
        send({ type_url: CLUSTER, version_info: response.version_info, response_nonce: response.nonce });
        send({ type_url: ENDPOINT, resource_names: edsNames });
      } else if (response.type_url === ENDPOINT) {
        send({ type_url: ENDPOINT, resource_names: edsNames, version_info: response.version_info, response_nonce: response.nonce });
        resolve();
      } else send({ type_url: response.type_url, version_info: response.version_info, response_nonce: response.nonce });
    });
    call.on('error', reject);
  });
  send({ node, type_url: CLUSTER });
  send({ type_url: LISTENER });
  return {
    synced,
    close: () => {
      call.cancel();
      client.close();
    },
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      server: { type: 'string' },
      file: { type: 'string', default: join(homedir(), '.cache', 'meshcp', 'bench', 'workload', 'mesh.yaml') },
      streams: { type: 'string', default: '500' },
      storm: { type: 'boolean', default: false },
    },
  });
  if (values.server) return server(values.server);
  const child = fork(new URL(import.meta.url).pathname, ['--server', values.file], { execArgv: ['--expose-gc'] });
  const { xdsPort, memPort } = await new Promise((resolve) => child.once('message', resolve));
  const mem = async () => (await fetch(`http://127.0.0.1:${memPort}/`)).json();
  const clients = [];
  try {
    for (const [i, zone] of ZONES.entries()) clients.push(envoyLike(xdsPort, `warm-${i}`, zone));
    await Promise.all(clients.map((c) => c.synced));
    await new Promise((r) => setTimeout(r, 500));
    const base = await mem();
    const n = Number(values.streams);
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      clients.push(envoyLike(xdsPort, `proxy-${i}`, ZONES[i % ZONES.length]));
      // Connect in batches (the steady state), or all at once (--storm: a fleet start).
      if (!values.storm && i % 50 === 49) await Promise.all(clients.slice(-50).map((c) => c.synced));
    }
    await Promise.all(clients.map((c) => c.synced));
    const syncMs = performance.now() - started;
    await new Promise((r) => setTimeout(r, 1000));
    const after = await mem();
    // The streams gone: what RSS keeps now is the allocator's, not the streams'.
    for (const c of clients.splice(ZONES.length)) c.close();
    await new Promise((r) => setTimeout(r, 2000));
    const closed = await mem();
    const per = (key) => ((after[key] - base[key]) / n / 1024).toFixed(1);
    console.log(
      JSON.stringify({
        streams: n,
        syncSeconds: +(syncMs / 1000).toFixed(1),
        perStreamKB: { heapUsed: +per('heapUsed'), external: +per('external'), arrayBuffers: +per('arrayBuffers'), rss: +per('rss') },
        rssKeptAfterCloseKB: +((closed.rss - base.rss) / n / 1024).toFixed(1),
        streamsAfterClose: closed.streams,
        baseMB: { heapUsed: +(base.heapUsed / 2 ** 20).toFixed(1), rss: +(base.rss / 2 ** 20).toFixed(1) },
      }),
    );
  } finally {
    for (const c of clients) c.close();
    child.kill();
  }
}

await main();
