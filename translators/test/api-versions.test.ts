/**
 * What we emit for an Envoy version must exist in that version's API: every field,
 * enum value and type URL of every resource, checked by encoding strictly with the
 * descriptors of that version (go-control-plane's envoy module). No module tag
 * carries the 1.32 or 1.34 API: 1.34 is checked against 1.33's, and 1.32 against
 * 1.33's too, which cannot catch a 1.33 addition (see xds-protos/envoy-api.json).
 */
import {
  apiMinorFor,
  CLUSTER,
  ENDPOINT,
  encodeJson,
  FieldPathError,
  LISTENER,
  loadEnvoyApi,
  messageNameOf,
  ROUTE,
  RUNTIME_MINOR,
  validateResource,
} from '@meshcp/xds-protos';
import { describe, expect, it } from 'vitest';
import { SUPPORTED_ENVOY_MINORS } from '../src/index.js';
import { fixtureNames, renderFixture, renderGrpcFixture } from './fixtures.js';

const TYPES = { listeners: LISTENER, routes: ROUTE, clusters: CLUSTER, endpoints: ENDPOINT } as const;

function apiErrors(fixture: string, renderedFor: string, checkedAgainst: string): string[] {
  const api = loadEnvoyApi(checkedAgainst);
  const rendered = renderedFor === 'grpc' ? renderGrpcFixture(fixture) : renderFixture(fixture, renderedFor);
  const errors: string[] = [];
  for (const [key, typeUrl] of Object.entries(TYPES)) {
    for (const resource of rendered[key as keyof typeof TYPES]) {
      try {
        encodeJson(api, messageNameOf(typeUrl), resource);
      } catch (error) {
        if (!(error instanceof FieldPathError)) throw error;
        errors.push(`${key}/${(resource as { name?: string }).name ?? ''}: ${error.message}`);
      }
      for (const issue of validateResource(api, messageNameOf(typeUrl), resource)) errors.push(`${key}: PGV ${issue.path}: ${issue.message}`);
    }
  }
  return errors;
}

describe.each(SUPPORTED_ENVOY_MINORS)('Envoy %s API', (minor) => {
  const api = apiMinorFor(minor);
  it.each(fixtureNames())(`every field emitted for %s exists in the ${api} descriptors and passes PGV`, (fixture) => {
    expect(apiErrors(fixture, minor, api)).toEqual([]);
  });
});

describe('proxyless gRPC output', () => {
  it.each(fixtureNames())('%s exists in the runtime API and passes PGV', (fixture) => {
    expect(apiErrors(fixture, 'grpc', RUNTIME_MINOR)).toEqual([]);
  });
});

describe('the check can fail', () => {
  it('1.40 output (path_rewrite, observability_name) is rejected by the 1.36 API', () => {
    const errors = [...apiErrors('route-features', '1.40', '1.36'), ...apiErrors('cluster-policies', '1.40', '1.36')];
    expect(errors.some((e) => e.includes('path_rewrite'))).toBe(true);
    expect(errors.some((e) => e.includes('observability_name'))).toBe(true);
  });

  it('1.37 output (path_rewrite) is rejected by the 1.36 API, 1.36 output is not', () => {
    expect(apiErrors('route-features', '1.37', '1.36').some((e) => e.includes('path_rewrite'))).toBe(true);
    expect(apiErrors('route-features', '1.36', '1.36')).toEqual([]);
  });
});
