/**
 * `sees` remembers its answers per model and caller namespace (every stream asks it for
 * each of its clusters): the remembered answer must be the computed one, for a model
 * with exportTo, for a changed model, and past the cap on remembered answers.
 */

import { describe, expect, it } from 'vitest';
import type { MeshModel, MeshService } from '../src/index.js';
import { proxyFromNode, translationFor } from '../src/index.js';
import { fixtureNames, loadFixture } from './fixtures.js';

const envoyIn = (namespace: string) =>
  translationFor(proxyFromNode({ id: `e-${namespace}`, user_agent_name: 'envoy', metadata: { 'meshcp.namespace': namespace } }));
const clustersOf = (model: MeshModel) => [...model.services.values()].flatMap((s) => s.ports.map((p) => `${s.name}.${s.namespace}:${p.port}`));

/** The model with every service exported only to its own namespace and `allowed`. */
function exportedTo(model: MeshModel, allowed: string): MeshModel {
  const services = new Map<string, MeshService>();
  for (const [key, service] of model.services) services.set(key, { ...service, exportTo: [allowed] });
  return { ...model, services };
}

describe('visibility answers per model and namespace', () => {
  it('are the same remembered as computed, and follow a model change', () => {
    const name = fixtureNames()[0] as string;
    const open = loadFixture(name);
    const clusters = clustersOf(open);
    expect(clusters.length).toBeGreaterThan(0);
    const restricted = exportedTo(open, 'shop');
    const namespaces = ['shop', 'other', ...Array.from({ length: 1100 }, (_, i) => `ns-${i}`)];
    for (const namespace of namespaces) {
      const envoy = envoyIn(namespace);
      for (const cluster of clusters) {
        const own = cluster.split(':')[0]?.split('.')[1] === namespace;
        // Twice each: the second answer is the remembered one .
        for (let i = 0; i < 2; i++) {
          expect(envoy.sees(open, cluster), `${namespace} ${cluster}`).toBe(true);
          expect(envoy.sees(restricted, cluster), `${namespace} ${cluster} restricted`).toBe(namespace === 'shop' || own);
        }
      }
    }
    expect(envoyIn('shop').sees(open, 'no-such.cluster:1')).toBe(false);
  });
});
