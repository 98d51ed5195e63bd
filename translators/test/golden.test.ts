/**
 * Golden files: every fixture in testdata/in rendered for every supported Envoy
 * minor into testdata/out/<minor>/<fixture>.<type>.yaml. `npm test -- -u`
 * rewrites them; reviewers read the diff between minors to see what the version
 * layer changes.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { SUPPORTED_ENVOY_MINORS } from '../src/index.js';
import { fixtureNames, grpcGoProxy, grpcProxy, renderFixture, renderGrpcFixture, TESTDATA } from './fixtures.js';

describe.each(fixtureNames())('golden %s', (fixture) => {
  it.each(SUPPORTED_ENVOY_MINORS)('Envoy %s', async (minor) => {
    const rendered = renderFixture(fixture, minor);
    for (const type of ['listeners', 'routes', 'clusters', 'endpoints'] as const) {
      await expect(stringify(rendered[type], { lineWidth: 0, aliasDuplicateObjects: false })).toMatchFileSnapshot(
        join(TESTDATA, 'out', minor, `${fixture}.${type}.yaml`),
      );
    }
  });
});

describe.each(fixtureNames())('golden %s for proxyless gRPC (grpc-node 1.14)', (fixture) => {
  it('renders', async () => {
    const rendered = renderGrpcFixture(fixture);
    for (const type of ['listeners', 'routes', 'clusters', 'endpoints', 'degraded'] as const) {
      await expect(stringify(rendered[type], { lineWidth: 0, aliasDuplicateObjects: false })).toMatchFileSnapshot(
        join(TESTDATA, 'out', 'grpc-node', `${fixture}.${type}.yaml`),
      );
    }
  });
});

// Mesh mTLS (gRFC A29) and server RBAC (A41): what a client that has them is sent, and one that has not.
describe.each([
  ['mesh-security', 'grpc-go', grpcGoProxy],
  ['grpc/mesh-security', 'grpc-go', grpcGoProxy],
  ['grpc/mesh-security', 'grpc-node', grpcProxy],
] as const)('golden %s for proxyless gRPC (%s)', (fixture, client, proxy) => {
  it('renders', async () => {
    const rendered = renderGrpcFixture(fixture, proxy());
    for (const type of ['listeners', 'routes', 'clusters', 'endpoints', 'degraded'] as const) {
      await expect(stringify(rendered[type], { lineWidth: 0, aliasDuplicateObjects: false })).toMatchFileSnapshot(
        join(TESTDATA, 'out', client, `${fixture.replace('/', '-')}.${type}.yaml`),
      );
    }
  });
});
