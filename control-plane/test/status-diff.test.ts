/** The diff `meshcp status PROXY` prints: held (CSDS) against what meshcp would send now. */
import { describe, expect, it } from 'vitest';
import { configDiff, fieldDiff, formatProxyStatus, heldResources, proxyHeldConfig } from '../src/status-csds.js';

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

  it('field by field: paths that differ with held → now, list elements matched by name, bounded values', () => {
    const held = {
      name: 'l',
      filter_chains: [{ name: 'a', filters: [{ name: 'hcm', typed_config: { stat_prefix: 'old' } }] }],
      port: 1,
      long: 'x'.repeat(200),
    };
    const now = {
      name: 'l',
      filter_chains: [{ name: 'a', filters: [{ name: 'hcm', typed_config: { stat_prefix: 'new' } }] }],
      extra: true,
      long: 'y'.repeat(200),
    };
    const changes = fieldDiff(held, now);
    expect(changes.map((c) => c.path)).toEqual(['extra', 'filter_chains[a].filters[hcm].typed_config.stat_prefix', 'long', 'port']);
    expect(changes.find((c) => c.path === 'extra')).toEqual({ path: 'extra', now: 'true' });
    expect(changes.find((c) => c.path === 'port')).toEqual({ path: 'port', held: '1' });
    expect(changes.find((c) => c.path.endsWith('stat_prefix'))).toEqual({
      path: 'filter_chains[a].filters[hcm].typed_config.stat_prefix',
      held: '"old"',
      now: '"new"',
    });
    expect(changes.find((c) => c.path === 'long')?.held?.length).toBeLessThanOrEqual(60);
    expect(fieldDiff({ a: [1, 2] }, { a: [1, 3, 4] })).toEqual([
      { path: 'a[1]', held: '2', now: '3' },
      { path: 'a[2]', now: '4' },
    ]);
  });

  it('an SDS secret that differs shows which fields, never their values', () => {
    // Envoy's own /config_dump shape (envoy.admin.v3.SecretsConfigDump), as a stale proxy holds it.
    const dump = {
      configs: [
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump',
          dynamic_active_secrets: [
            {
              name: 'default',
              version_info: 's1',
              secret: {
                '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
                name: 'default',
                tls_certificate: { certificate_chain: { inline_bytes: 'OLDCERTPEM' }, private_key: { inline_bytes: 'W3JlZGFjdGVkXQ==' } },
              },
            },
          ],
        },
      ],
    };
    const held = proxyHeldConfig(dump);
    expect([...held.keys()]).toEqual(['SDS\u0000default']);
    const sdsConfig = {
      node: { id: 'web-1' },
      generic_xds_configs: [
        { type_url: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret', name: 'default', version_info: 's1', config_status: 'STALE' },
      ],
    };
    const now = {
      SDS: [
        {
          name: 'default',
          version: 's2',
          resource: { name: 'default', tls_certificate: { certificate_chain: { inline_bytes: 'NEWCERTPEM' }, private_key: '[redacted]' } },
        },
      ],
    };
    const out = formatProxyStatus(sdsConfig, now, held);
    expect(out).toMatch(/~ SDS default {2}held s1 → now s2/);
    expect(out).toMatch(/^ {6}tls_certificate\.certificate_chain\.inline_bytes: \[redacted\] → \[redacted\]$/m);
    expect(out).toMatch(/^ {6}tls_certificate\.private_key/m);
    for (const secret of ['OLDCERTPEM', 'NEWCERTPEM', 'W3JlZGFjdGVkXQ']) expect(out).not.toContain(secret);
    // Key material is hidden wherever it appears, not only in SDS.
    expect(fieldDiff({ tls: { private_key: 'a' } }, { tls: { private_key: 'b' } })).toEqual([
      { path: 'tls.private_key', held: '[redacted]', now: '[redacted]' },
    ]);
  });

  it('without the proxy admin, an update says how to see its fields', () => {
    const out = formatProxyStatus(config, { CDS: [{ name: 'a.shop:8080', version: 'changed' }] });
    expect(out).toMatch(/~ CDS a\.shop:8080 {2}held aaaa → now changed/);
    expect(out).toMatch(/give --proxy-admin HOST:PORT/);
  });
});
