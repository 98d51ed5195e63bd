/**
 * meshcp_proxy_convergence_seconds ends when a proxy's ACK arrives, not when meshcp gets
 * round to handling it. A real xDS server and a real grpc-js stream: a request arrives
 * just ahead of the ACK and its handling is held for 600 ms (a slow push, made
 * deterministic), so the ACK waits in the request queue behind it. The histogram must read what the proxy did (change → ACK
 * sent), and the wait shows in meshcp_xds_request_wait_seconds instead.
 */
import { CLUSTER } from '@meshcp/xds-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapshotCache } from '../src/cache/snapshot-cache.js';
import { Metrics } from '../src/metrics.js';
import { XdsServer } from '../src/xds/server.js';
import { XdsSession } from '../src/xds/session.js';
import { ENVOY_NODE, mesh, serviceYaml } from './fixtures.js';
import { parseSamples, type Sample, sampleValue } from './support/prometheus-text.js';
import { XdsTestClient } from './xds-client.js';

const SLOW_PUSH_MS = 600;

describe('convergence is measured to the ACK’s arrival', () => {
  const metrics = new Metrics();
  const cache = new SnapshotCache(metrics);
  const server = new XdsServer(cache, metrics);
  const clients: XdsTestClient[] = [];
  const receive = XdsSession.prototype.receive;
  let port = 0;
  const scrape = async (): Promise<Sample[]> => parseSamples(await metrics.registry.metrics());

  beforeAll(async () => {
    cache.setModel(mesh(serviceYaml('a', [1001])));
    port = await server.start('127.0.0.1:0');
  });

  afterAll(async () => {
    XdsSession.prototype.receive = receive;
    for (const client of clients) client.close();
    await server.stop();
    metrics.close();
  });

  it('an ACK queued behind a slow push counts from its arrival, and the queueing shows as request wait', async () => {
    const proxy = new XdsTestClient(port, 'sotw');
    clients.push(proxy);
    proxy.send({ node: ENVOY_NODE, type_url: CLUSTER });
    const first = await proxy.next();
    proxy.send({ type_url: CLUSTER, version_info: first.version_info, response_nonce: first.nonce });
    await expect.poll(async () => sampleValue(await scrape(), 'meshcp_xds_acks_total', { type: 'CDS' })).toBe(1);

    // The next request meshcp handles takes SLOW_PUSH_MS (the event loop is held, as by a large push).
    let slow = true;
    XdsSession.prototype.receive = function (this: XdsSession, bytes: Uint8Array, receivedAt?: number) {
      if (slow) {
        slow = false;
        const until = performance.now() + SLOW_PUSH_MS;
        while (performance.now() < until) {
          // busy: nothing else runs, as during a push
        }
      }
      return receive.call(this, bytes, receivedAt);
    };

    const changed = performance.now();
    cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002])));
    const response = await proxy.next();
    expect(response.resources?.length).toBe(2);
    // A request meshcp ignores (a type it does not serve) goes first on the stream, then the ACK: the ACK
    // arrives with it and waits in the queue while the first is handled.
    proxy.send({ type_url: 'type.googleapis.com/envoy.service.runtime.v3.Runtime' });
    proxy.send({ type_url: CLUSTER, version_info: response.version_info, response_nonce: response.nonce });
    const ackSent = performance.now();
    await expect
      .poll(async () => sampleValue(await scrape(), 'meshcp_proxy_convergence_seconds_count', { type: 'CDS' }), { interval: 5, timeout: 10_000 })
      .toBe(1);
    const handled = performance.now();
    XdsSession.prototype.receive = receive;

    const samples = await scrape();
    const observedMs = (sampleValue(samples, 'meshcp_proxy_convergence_seconds_sum', { type: 'CDS' }) ?? 0) * 1000;
    // The proxy's ACK really waited behind the slow push…
    expect(handled - ackSent).toBeGreaterThanOrEqual(SLOW_PUSH_MS - 50);
    // …yet the histogram reads the proxy's change → ACK (plus the loopback hop), not the wait.
    expect(observedMs).toBeGreaterThan(0);
    expect(observedMs).toBeLessThan(ackSent - changed + 100);
    expect(sampleValue(samples, 'meshcp_proxy_convergence_seconds_bucket', { type: 'CDS', le: '0.5' })).toBe(1);
    // The wait is not lost: the ACK's half second in the queue is counted.
    const waitedCount = sampleValue(samples, 'meshcp_xds_request_wait_seconds_count', { mode: 'sotw' }) ?? 0;
    const underHalfSecond = sampleValue(samples, 'meshcp_xds_request_wait_seconds_bucket', { mode: 'sotw', le: '0.5' }) ?? 0;
    expect(waitedCount - underHalfSecond).toBe(1);
  });

  it('a change’s fan-out yields the event loop every 10 ms, so ACKs are read mid-wave', async () => {
    const streams = Array.from({ length: 30 }, (_, i) => {
      const client = new XdsTestClient(port, 'sotw', undefined, { ownConnection: true });
      client.send({ node: { ...ENVOY_NODE, id: `wave-${i}` }, type_url: CLUSTER });
      return client;
    });
    clients.push(...streams);
    await Promise.all(streams.map((client) => client.next()));
    // Telling each stream takes 2 ms here (a push to a large variant): 60 ms for the whole wave.
    const onCacheChange = XdsSession.prototype.onCacheChange;
    let told = 0;
    XdsSession.prototype.onCacheChange = function (this: XdsSession, change) {
      const until = performance.now() + 2;
      while (performance.now() < until) {
        // busy, as a push is
      }
      told++;
      return onCacheChange.call(this, change);
    };
    try {
      const before = told;
      cache.setModel(mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002]), serviceYaml('c', [1003])));
      // The first slice ran inside setModel: it stopped after about 10 ms, not after every stream.
      const inFirstTurn = told - before;
      expect(inFirstTurn).toBeGreaterThan(0);
      expect(inFirstTurn).toBeLessThan(15);
      await expect.poll(() => told - before, { interval: 5, timeout: 10_000 }).toBeGreaterThanOrEqual(streams.length + 1);
    } finally {
      XdsSession.prototype.onCacheChange = onCacheChange;
    }
  });
});
