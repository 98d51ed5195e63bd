/**
 * Churn coalescing end to end: a source that changes faster than proxies can ACK, a
 * control plane with the leading-edge debounce and one push wave at a time, and real
 * grpc-js ADS clients that ACK everything. Under a burst every client ends on the
 * final state, with far fewer pushes than changes; a lone change after a quiet period
 * is pushed at once, not after the quiet window.
 */
import type { MeshSource, SourceResult } from '@meshcp/translators';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../src/control-plane.js';
import { AckingClient } from './acking-client.js';
import { mesh, serviceYaml } from './fixtures.js';

const CLUSTER_NAME = 'a.shop:8080';
const CLIENTS = 12;

/** A source the test drives: every `emit` is one source change. */
class DrivenSource implements MeshSource {
  readonly name = 'driven';
  private onUpdate?: (result: SourceResult) => void;
  async start(onUpdate: (result: SourceResult) => void): Promise<void> {
    this.onUpdate = onUpdate;
    this.emit(1000);
  }
  emit(port: number): void {
    this.onUpdate?.({ model: mesh(serviceYaml('a', [port])), errors: [] });
  }
  stop(): void {}
}

describe('churn coalescing with real clients', () => {
  let plane: ControlPlane;
  const source = new DrivenSource();
  const clients: AckingClient[] = [];
  const QUIET_MS = 300;

  beforeAll(async () => {
    plane = new ControlPlane({ source, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', debounceQuietMs: QUIET_MS, debounceMaxMs: 600 });
    await plane.start();
    for (let i = 0; i < CLIENTS; i++) clients.push(new AckingClient(plane.xdsPort, `churn-${i}`, CLUSTER_NAME));
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await plane.stop();
  });

  it('serves every client the first state', async () => {
    await expect.poll(() => clients.every((c) => c.lastPort === 1000), { timeout: 10_000 }).toBe(true);
  });

  it('pushes a lone change after a quiet period at once (leading edge), not after the quiet window', async () => {
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS + 50));
    const changed = performance.now();
    source.emit(1500);
    await expect.poll(() => clients.every((c) => c.lastPort === 1500), { timeout: 5_000, interval: 5 }).toBe(true);
    const lastArrival = Math.max(...clients.map((c) => c.lastAt)) - changed;
    expect(lastArrival).toBeLessThan(QUIET_MS);
  });

  it('under a burst of 100 changes every client converges on the final state, with far fewer pushes', async () => {
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS + 50));
    const before = clients.map((c) => c.responses);
    // 100 changes, one every 5 ms (200 changes/s offered).
    for (let i = 1; i <= 100; i++) {
      source.emit(2000 + i);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await expect.poll(() => clients.every((c) => c.lastPort === 2100), { timeout: 10_000, interval: 20 }).toBe(true);
    // Settled: nothing stale arrives after the final state.
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS + 200));
    for (const client of clients) expect(client.lastPort).toBe(2100);
    const pushes = clients.map((c, i) => c.responses - (before[i] ?? 0));
    // Leading edge + one run per max delay over ~0.5-1 s of burst + the trailing run: a handful, not 100.
    for (const count of pushes) {
      expect(count).toBeGreaterThanOrEqual(2);
      expect(count).toBeLessThanOrEqual(8);
    }
  });
});
