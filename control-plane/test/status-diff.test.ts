/** The diff `meshcp status PROXY` prints: held (CSDS) against what meshcp would send now. */
import { describe, expect, it } from 'vitest';
import { configDiff, formatProxyStatus, heldResources } from '../src/status-csds.js';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';

const config = {
  node: { id: 'web-1', metadata: { 'meshcp.version': '1.40.0', 'meshcp.profile': 'envoy-1.39+', 'meshcp.mode': 'sotw' } },
  generic_xds_configs: [
    { type_url: CDS, name: 'a.shop:8080', version_info: 'aaaa', config_status: 'SYNCED', client_status: 'ACKED' },
    { type_url: CDS, name: 'gone.shop:8080', version_info: 'gggg', config_status: 'SYNCED', client_status: 'ACKED' },
    { type_url: EDS, name: 'a.shop:8080', version_info: 'e1', config_status: 'STALE', client_status: 'REQUESTED' },
  ],
};

describe('status PROXY diff', () => {
  it('names additions (wildcard types only), removals and updates; equal versions are in sync', () => {
    const held = heldResources(config);
    const now = {
      CDS: [
        { name: 'a.shop:8080', version: 'aaaa' },
        { name: 'b.shop:8080', version: 'bbbb' },
      ],
      EDS: [
        { name: 'a.shop:8080', version: 'e2' },
        { name: 'b.shop:8080', version: 'e3' }, // not asked for by this proxy: not missing
      ],
    };
    expect(configDiff(held, now)).toEqual([
      { type: 'CDS', name: 'b.shop:8080', change: 'add', now: 'bbbb' },
      { type: 'CDS', name: 'gone.shop:8080', change: 'remove', held: 'gggg' },
      { type: 'EDS', name: 'a.shop:8080', change: 'update', held: 'e1', now: 'e2' },
    ]);
    const text = formatProxyStatus(config, now);
    expect(text).toContain('proxy web-1  version 1.40.0  profile envoy-1.39+  mode sotw');
    expect(text).toContain('EDS   a.shop:8080     e1       STALE');
    expect(text).toContain('  ~ EDS a.shop:8080  held e1 → now e2');
    expect(text).toContain('  + CDS b.shop:8080  now bbbb');
    expect(text).toContain('  - CDS gone.shop:8080  held gggg');
  });

  it('without the admin API the CSDS part still prints', () => {
    expect(formatProxyStatus(config, undefined)).toContain('diff: not available');
  });
});
