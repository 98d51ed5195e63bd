/**
 * A rule whose backends all weigh 0, for proxyless gRPC: clients with the fault
 * filter (gRFC A33) get the route with a per-route abort of every RPC (UNAVAILABLE)
 * and the filter in that listener only; clients without it get A28's
 * direct_response (a non-`route` action fails matching RPCs). Never a backend.
 * Real clients: e2e/test/grpc-zero-weight.test.ts, grpc-proxyless.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { grpcProfile, proxyFromNode, translateGrpcConfig } from '../src/index.js';
import { loadFixture } from './fixtures.js';

const profileOf = (user_agent_name: string, user_agent_version: string) =>
  grpcProfile(proxyFromNode({ id: 'n', user_agent_name, user_agent_version, locality: { region: 'eu', zone: 'eu-1a' } }));

const drained = (config: ReturnType<typeof translateGrpcConfig>, target: string) =>
  config.routes.find((r) => r.name === target)?.virtual_hosts?.[0]?.routes?.find((r) => r.name?.startsWith('shop/echo-drained'));
const filtersOf = (config: ReturnType<typeof translateGrpcConfig>, target: string) =>
  ((config.listeners.find((l) => l.name === target)?.api_listener?.api_listener as { http_filters?: { name: string }[] } | undefined)?.http_filters ?? []).map(
    (f) => f.name,
  );

describe('gRPC: every backend at weight 0', () => {
  const model = loadFixture('zero-weight');

  for (const [kind, agent, version] of [
    ['grpc-go', 'gRPC Go', '1.85.0'],
    ['grpc-java', 'gRPC Java', '1.85.1'],
    ['grpc-core', 'gRPC C-core', 'C-core 58.0.0 Python 1.85.1'],
    ['grpc-node', 'gRPC Node Pure JS', '1.14.1'],
  ] as const)
    it(`${kind} ${version}: the route aborts every RPC UNAVAILABLE; only that listener carries the fault filter`, () => {
      const config = translateGrpcConfig(model, profileOf(agent, version), 'shop');
      const route = drained(config, 'echo.shop:50051');
      expect(route?.typed_per_filter_config?.['envoy.filters.http.fault']).toMatchObject({
        abort: { grpc_status: 14, percentage: { numerator: 100, denominator: 'HUNDRED' } },
      });
      expect(route?.direct_response).toBeUndefined();
      expect(filtersOf(config, 'echo.shop:50051')).toEqual(['envoy.filters.http.fault', 'envoy.filters.http.router']);
      expect(filtersOf(config, 'echo-v2.shop:50051')).toEqual(['envoy.filters.http.router']);
      // Paths the rule does not match still go to the service.
      expect(config.routes.find((r) => r.name === 'echo.shop:50051')?.virtual_hosts?.[0]?.routes?.at(-1)).toMatchObject({
        name: 'default',
        route: { cluster: 'echo.shop:50051' },
      });
    });

  it('a client older than the fault filter (grpc-go 1.36) gets a direct_response, no fault filter', () => {
    const config = translateGrpcConfig(model, profileOf('gRPC Go', '1.36.0'), 'shop');
    const route = drained(config, 'echo.shop:50051');
    expect(route?.direct_response).toEqual({ status: 500 });
    expect(route?.route).toBeUndefined();
    expect(filtersOf(config, 'echo.shop:50051')).toEqual(['envoy.filters.http.router']);
  });
});
