/**
 * The MeshService CRD's schema must describe every spec field meshcp reads: the
 * API server prunes fields a structural schema does not list, so a field missing
 * here would be silently dropped at `kubectl apply`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { documentedDefaults } from '@meshcp/translators';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..');

interface Schema {
  type?: string;
  description?: string;
  default?: unknown;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema;
}

function specSchema(): Schema {
  const crd = parse(readFileSync(join(ROOT, 'k8s', 'crds', 'meshservices.meshcp.io.yaml'), 'utf8'));
  return crd.spec.versions[0].schema.openAPIV3Schema.properties.spec as Schema;
}

function lookup(schema: Schema, path: string[]): Schema | undefined {
  let at: Schema | undefined = schema;
  for (const part of path) {
    if (!at) return undefined;
    if (at.type === 'array') at = at.items;
    at = at?.properties?.[part];
  }
  return at;
}

/** Every default the schema states, as `default:` or "(default …)" in a description, by spec path (`ports[].protocol`). */
function statedDefaults(schema: Schema, path = ''): Record<string, string> {
  const found: Record<string, string> = {};
  if (path !== '') {
    if (schema.default !== undefined) found[path] = String(schema.default);
    const described = /\(default ([^):][^)]*)\)/.exec(schema.description ?? '');
    if (described) {
      expect(found[path] ?? described[1], `${path}: default: and its description disagree`).toBe(described[1]);
      found[path] = described[1] as string;
    }
  }
  const item = schema.type === 'array' ? schema.items : undefined;
  const properties = item?.properties ?? schema.properties ?? {};
  const prefix = path === '' ? '' : item ? `${path}[].` : `${path}.`;
  for (const [name, child] of Object.entries(properties)) Object.assign(found, statedDefaults(child, `${prefix}${name}`));
  return found;
}

describe('meshservices.meshcp.io CRD', () => {
  it('has a schema entry, with a description, for every MeshService field the parser reads', () => {
    const parser = readFileSync(join(ROOT, 'translators', 'src', 'model', 'manifests.ts'), 'utf8');
    // HTTPRoute's, ReferenceGrant's and MeshAccessPolicy's fields (MeshAccessPolicy is a file kind; its CRD is still to come),
    // and MeshConfig's (a file kind; in Kubernetes the chart's mesh.tracing values set the same).
    const routeOnly = ['spec.parentRefs', 'spec.rules', 'spec.targetRef', 'spec.from', 'spec.to', 'spec.tracing'];
    const paths = [...new Set([...parser.matchAll(/'(spec(?:\.[a-zA-Z0-9]+)+)/g)].map((m) => m[1] as string))].filter(
      (p) => !routeOnly.some((r) => p === r || p.startsWith(`${r}.`)),
    );
    expect(paths.length).toBeGreaterThan(10);
    const schema = specSchema();
    const missing = paths.filter((p) => !lookup(schema, p.split('.').slice(1))?.description);
    expect(missing, 'fields the parser reads that the CRD would prune (or leaves undescribed)').toEqual([]);
  });

  it('endpoint fields the parser reads are in the schema', () => {
    const endpoint = specSchema().properties?.endpoints?.items?.properties ?? {};
    expect(Object.keys(endpoint).sort()).toEqual(['address', 'health', 'locality', 'port', 'ports', 'priority', 'weight']);
  });

  it('documents exactly the defaults the parser applies (translators/src/model/defaults.ts)', () => {
    expect(statedDefaults(specSchema())).toEqual(documentedDefaults());
  });

  it('the chart ships the same CRD', () => {
    expect(readFileSync(join(ROOT, 'k8s', 'chart', 'meshcp', 'crds', 'meshservices.meshcp.io.yaml'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'k8s', 'crds', 'meshservices.meshcp.io.yaml'), 'utf8'),
    );
  });
});
