/**
 * `meshcp agent` (user_agent_name `meshcp-agent`) is its own client kind: it asks only
 * for SDS, so it is given no Envoy profile (no "Envoy 0.1.0 is older than…" warning, no
 * fallback profile that would count it as an out-of-date Envoy) and nothing degraded.
 */
import { describe, expect, it } from 'vitest';
import { AGENT_USER_AGENT, proxyFromNode, translationFor } from '../src/index.js';
import { fixtureNames, loadFixture } from './fixtures.js';

describe('meshcp agent as a client kind', () => {
  it('is kind agent with the SDS-only profile: no warnings, no config, nothing degraded whatever the mesh asks', () => {
    const info = proxyFromNode({ id: 'web-agent', user_agent_name: AGENT_USER_AGENT, user_agent_version: '0.1.0', metadata: { 'meshcp.namespace': 'shop' } });
    expect(info.clientKind).toBe('agent');
    const translation = translationFor(info);
    expect(translation.family).toBe('agent');
    expect(translation.profile.name).toBe('agent-sds');
    expect(translation.profile.warnings).toEqual([]);
    for (const name of fixtureNames()) {
      const model = loadFixture(name);
      expect(translation.config(model), name).toEqual({ listeners: [], routes: [], clusters: [], degraded: [] });
      for (const cluster of [...model.services.values()].flatMap((s) => s.ports.map((p) => `${s.name}.${s.namespace}:${p.port}`)))
        expect(translation.endpoints(model, cluster), cluster).toBeUndefined();
      // What the namespace may see is the same as for any other kind there (a worker keeps one answer per namespace).
      const envoy = translationFor(proxyFromNode({ id: 'e', user_agent_name: 'envoy', metadata: { 'meshcp.namespace': 'shop' } }));
      for (const cluster of [...model.services.values()].flatMap((s) => s.ports.map((p) => `${s.name}.${s.namespace}:${p.port}`)))
        expect(translation.sees(model, cluster), cluster).toBe(envoy.sees(model, cluster));
    }
  });

  it('an Envoy and an unknown client are unchanged (Envoy profile)', () => {
    expect(translationFor(proxyFromNode({ id: 'e', user_agent_name: 'envoy', user_agent_version: '1.37.0' })).family).toBe('envoy');
    expect(proxyFromNode({ id: 'x', user_agent_name: 'meshcp-agent-fork' }).clientKind).toBe('unknown');
  });
});
