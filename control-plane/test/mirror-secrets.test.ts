/**
 * A worker's mirror cache and SDS: a stream that waited for its variant to arrive from
 * the primary is owed its identity's secrets too. Before, the arrival was told as a
 * config change only, so a stream asking only for SDS (`meshcp agent`) was never sent
 * its certificate on a `--workers` server (seen: the agent's SDS stayed NOT_SENT).
 */
import { proxyFromNode } from '@meshcp/translators';
import { describe, expect, it } from 'vitest';
import { MirrorCache, type MirrorRequest } from '../src/cache/mirror.js';
import type { CacheChange } from '../src/cache/snapshot-cache.js';

const IDENTITY = 'spiffe://cluster.local/ns/shop/sa/echo';
const SECRETS = { version: 's1', resources: [] };

describe('MirrorCache and SDS', () => {
  it('tells a waiting stream its identity on arrival, whether its secrets came before or with the variant', () => {
    const requests: MirrorRequest[] = [];
    const mirror = new MirrorCache((request) => requests.push(request));
    const changes: CacheChange[] = [];
    mirror.onChange((change) => changes.push(change));
    const info = proxyFromNode({ id: 'echo-agent', user_agent_name: 'meshcp-agent', metadata: { 'meshcp.namespace': 'shop' } });

    // The certificate is issued before the stream reads: the secrets reach the worker first, as a change of their own.
    mirror.apply({ t: 'mirror', ready: true, secrets: [[IDENTITY, SECRETS]], change: { config: false, clusters: [], identities: [IDENTITY] } });
    const view = mirror.viewFor(info, IDENTITY);
    expect(requests).toEqual([{ t: 'want', info, identityKey: IDENTITY }]);
    expect(mirror.isReadyFor(view)).toBe(false);

    // The variant arrives (no change of its own): the waiting stream is told its identity changed, so SDS is planned.
    mirror.apply({
      t: 'mirror',
      ready: true,
      arrived: true,
      configs: [[view.configKey, { sets: [], degraded: [] }]],
      endpoints: [[view.endpointKey, []]],
      visibility: [['shop', []]],
    });
    expect(mirror.isReadyFor(view)).toBe(true);
    expect(changes.at(-1)?.identities).toEqual(new Set([IDENTITY]));
    expect(mirror.resourceSet(view, 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret').version).toBe('s1');
  });
});
