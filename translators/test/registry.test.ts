/** The feature registry: a feature is one object with hooks, and the core calls it at each place it touches. */
import type { Route } from '@meshcp/xds-protos';
import { describe, expect, it } from 'vitest';
import { ENVOY_FEATURES, type EnvoyFeature, envoyProfile, translateEnvoyConfig } from '../src/index.js';
import { goldenProxy, loadFixture } from './fixtures.js';

/** The closing note's example: a response header on every route is one file like this plus one line in features/index.ts. */
const servedBy: EnvoyFeature = {
  name: 'served-by',
  route(route) {
    route.response_headers_to_add = [
      ...(route.response_headers_to_add ?? []),
      { header: { key: 'x-registry-probe', value: 'meshcp' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    ];
  },
};

const cors: EnvoyFeature = {
  name: 'cors-filter',
  httpFilters: (_ctx, direction) =>
    direction === 'outbound'
      ? [{ name: 'envoy.filters.http.cors', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors' } }]
      : [],
};

describe('Envoy feature registry', () => {
  const proxy = goldenProxy('1.40');
  const model = loadFixture('route-features');

  it('calls a registered route hook for every route, and nothing changes without it', () => {
    const plain = translateEnvoyConfig(model, proxy, envoyProfile(proxy));
    const withFeature = translateEnvoyConfig(model, proxy, envoyProfile(proxy), [...ENVOY_FEATURES, servedBy]);
    const routes = (config: typeof plain): Route[] => config.routes.flatMap((rc) => (rc.virtual_hosts ?? []).flatMap((vh) => vh.routes ?? []));
    expect(routes(withFeature).length).toBeGreaterThan(3);
    for (const route of routes(withFeature))
      expect(route.response_headers_to_add).toContainEqual(expect.objectContaining({ header: { key: 'x-registry-probe', value: 'meshcp' } }));
    for (const route of routes(plain)) expect(JSON.stringify(route)).not.toContain('x-registry-probe');
  });

  it('places registered HTTP filters before the router, on the direction they ask for', () => {
    // This fixture has the proxy's own service (shop/web), so the proxy also gets an inbound listener.
    const config = translateEnvoyConfig(loadFixture('cluster-policies'), proxy, envoyProfile(proxy), [...ENVOY_FEATURES, cors]);
    const filters = (name: string) =>
      JSON.parse(JSON.stringify(config.listeners.find((l) => l.name === name))).filter_chains[0].filters[0].typed_config.http_filters.map(
        (f: { name: string }) => f.name,
      );
    expect(filters('outbound:15001')).toEqual(['envoy.filters.http.cors', 'envoy.filters.http.router']);
    expect(filters('inbound:15006')).toEqual(['envoy.filters.http.router']);
  });

  it('has unique feature names', () => {
    expect(new Set(ENVOY_FEATURES.map((f) => f.name)).size).toBe(ENVOY_FEATURES.length);
  });
});
