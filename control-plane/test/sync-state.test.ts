/**
 * The one order of sync states (xds/sync-state.ts), and the MeshService proxy counts
 * built on it, from a running control plane with real grpc-js clients that ACK, NACK
 * or never answer — one of them with two streams that disagree.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLUSTER } from '@meshcp/xds-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../src/control-plane.js';
import { worseState } from '../src/xds/sync-state.js';
import { ENVOY_NODE, serviceYaml } from './fixtures.js';
import { XdsTestClient } from './xds-client.js';

describe('worseState', () => {
  it('sums states as the worst: NACKED over STALE over NOT_SENT over SYNCED, in any order', () => {
    const states = ['SYNCED', 'NOT_SENT', 'STALE', 'NACKED'] as const;
    for (const [i, better] of states.entries()) {
      for (const worse of states.slice(i)) {
        expect(worseState(better, worse)).toBe(worse);
        expect(worseState(worse, better)).toBe(worse);
      }
    }
    expect(worseState(undefined, 'SYNCED')).toBe('SYNCED');
  });

  it('ranks a state it does not know (CSDS UNKNOWN) with SYNCED, and keeps the first of equals', () => {
    expect(worseState('UNKNOWN', 'SYNCED')).toBe('UNKNOWN');
    expect(worseState('SYNCED', 'UNKNOWN')).toBe('SYNCED');
    expect(worseState('UNKNOWN', 'STALE')).toBe('STALE');
    expect(worseState('NACKED', 'UNKNOWN')).toBe('NACKED');
  });
});

describe('proxy counts per MeshService', () => {
  let plane: ControlPlane;
  const clients: XdsTestClient[] = [];

  /** A stream of `id` (a proxy of `service`) that has its first CDS response; the caller ACKs, NACKs or stays silent. */
  const stream = async (id: string, service: string) => {
    const client = new XdsTestClient(plane.xdsPort, 'sotw', undefined, { ownConnection: true });
    clients.push(client);
    client.send({ node: { ...ENVOY_NODE, id, metadata: { ...ENVOY_NODE.metadata, 'meshcp.service': service } }, type_url: CLUSTER });
    const response = await client.next();
    return {
      ack: () => client.send({ type_url: CLUSTER, version_info: response.version_info, response_nonce: response.nonce }),
      nack: () => client.send({ type_url: CLUSTER, version_info: '', response_nonce: response.nonce, error_detail: { code: 3, message: 'rejected' } }),
    };
  };

  beforeAll(async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'meshcp-sync-state-')), 'mesh.yaml');
    writeFileSync(file, serviceYaml('a', [1001]));
    plane = new ControlPlane({ file, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0' });
    await plane.start();
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await plane.stop();
  });

  it('counts each proxy once, at its worst stream: an ACK is synced, a NACK nacked, no answer stale', async () => {
    (await stream('synced', 'a')).ack();
    (await stream('nacked', 'a')).nack();
    // One proxy, two streams: one ACKed, one NACKed; it counts once, as nacked.
    (await stream('split', 'a')).ack();
    (await stream('split', 'a')).nack();
    await stream('silent', 'b');
    await expect
      .poll(async () => Object.fromEntries(await plane.proxyCounts()), { timeout: 5_000 })
      .toEqual({ 'shop/a': { synced: 1, stale: 0, nacked: 2 }, 'shop/b': { synced: 0, stale: 1, nacked: 0 } });
  });
});
