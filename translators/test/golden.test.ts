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
import { fixtureNames, grpcGoProxy, renderFixture, renderGrpcFixture, TESTDATA } from './fixtures.js';

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

// Mesh mTLS (gRFC A29) for a client that has it: TLS clusters and server listeners.
describe('golden mesh-security for proxyless gRPC (grpc-go 1.85)', () => {
  it('renders', async () => {
    const rendered = renderGrpcFixture('mesh-security', grpcGoProxy());
    for (const type of ['listeners', 'routes', 'clusters', 'endpoints', 'degraded'] as const) {
      await expect(stringify(rendered[type], { lineWidth: 0, aliasDuplicateObjects: false })).toMatchFileSnapshot(
        join(TESTDATA, 'out', 'grpc-go', `mesh-security.${type}.yaml`),
      );
    }
  });
});
