/**
 * The push-wave rule of XdsServer.fanOut with real grpc-js streams, more of them than
 * one fan-out slice: a wave tells a slice of streams per event-loop turn, a change
 * arriving mid-wave is merged into it, and what arrived mid-wave goes to EVERY stream
 * in one follow-up wave. A follow-up sent only to the streams the wave had reached left
 * the streams an earlier wave had reached out of every later wave, and they stopped
 * receiving changes (the bench's churn self-check caught it). Changes here arrive one
 * per event-loop turn, so each lands mid-wave, follow-ups span several slices and are
 * themselves interrupted; every stream must still end on the latest state.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SnapshotCache } from '../src/cache/snapshot-cache.js';
import { Metrics } from '../src/metrics.js';
import { XdsServer } from '../src/xds/server.js';
import { AckingClient } from './acking-client.js';
import { mesh, serviceYaml } from './fixtures.js';

const CLUSTER_NAME = 'a.shop:8080';
/** A small slice so a few streams span many turns (the production slice is 256). */
const SLICE = 4;
/** Five and a bit slices: a wave takes six turns, its follow-up several more. */
const STREAMS = 5 * SLICE + 3;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('push waves over more streams than one fan-out slice', () => {
  let cache: SnapshotCache;
  let server: XdsServer;
  let clients: AckingClient[] = [];

  const behind = (port: number) => clients.filter((c) => c.lastPort !== port).map((c) => `${c.id}@${c.lastPort}`);

  beforeEach(async () => {
    const metrics = new Metrics();
    cache = new SnapshotCache(metrics);
    server = new XdsServer(cache, metrics, { fanOutSlice: SLICE });
    const port = await server.start('127.0.0.1:0');
    cache.setModel(mesh(serviceYaml('a', [1000])));
    clients = Array.from({ length: STREAMS }, (_, i) => new AckingClient(port, `wave-${i}`, CLUSTER_NAME));
    await expect.poll(() => behind(1000), { timeout: 10_000, message: 'every stream gets the first state' }).toEqual([]);
  });

  afterEach(async () => {
    for (const client of clients) client.close();
    await server.stop();
  });

  it('brings every stream to the latest state after changes one event-loop turn apart', async () => {
    const CHANGES = 40;
    for (let i = 1; i <= CHANGES; i++) {
      cache.setModel(mesh(serviceYaml('a', [2000 + i])));
      await nextTurn();
    }
    const latest = 2000 + CHANGES;
    await expect.poll(() => behind(latest), { timeout: 10_000, interval: 20, message: `streams not on port ${latest} (id@port)` }).toEqual([]);
  });

  it('keeps every stream receiving across bursts: each burst ends with all streams on its last state', async () => {
    for (let burst = 1; burst <= 3; burst++) {
      // Bursts of different lengths stop the waves at different places in the stream list.
      const changes = 3 * SLICE + burst * 5;
      for (let i = 1; i <= changes; i++) {
        cache.setModel(mesh(serviceYaml('a', [burst * 1000 + 2000 + i])));
        await nextTurn();
      }
      const latest = burst * 1000 + 2000 + changes;
      await expect
        .poll(() => behind(latest), { timeout: 10_000, interval: 20, message: `after burst ${burst}, streams not on port ${latest} (id@port)` })
        .toEqual([]);
    }
  });
});
