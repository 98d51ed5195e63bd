/**
 * Capability rows and their matrix scenarios name each other: a row's `proof` names a
 * registered `cap-…` scenario, and every `cap-…` scenario belongs to a row that names it.
 * (No Envoy here; the scenarios themselves run in matrix.test.ts.)
 */
import { ENVOY_CAPABILITIES } from '@meshcp/translators';
import { describe, expect, it } from 'vitest';
import { loadScenarios } from '../src/scenarios/index.js';

describe('capability rows ↔ matrix scenarios', () => {
  it('every Envoy row names a registered cap- scenario as its proof', async () => {
    const ids = new Set((await loadScenarios()).map((s) => s.id));
    for (const row of ENVOY_CAPABILITIES) {
      const named = /\bcap-[a-z0-9-]+/.exec(row.proof ?? '')?.[0];
      expect(named, `${row.feature}: proof ${JSON.stringify(row.proof)} names no cap- scenario`).toBeDefined();
      expect(ids.has(named as string), `${row.feature}: proof names ${named}, which is not a scenario`).toBe(true);
    }
  });

  it('every cap- scenario is the proof of exactly one row', async () => {
    const caps = (await loadScenarios()).filter((s) => s.id.startsWith('cap-'));
    expect(caps.length).toBeGreaterThan(0);
    for (const s of caps) {
      const rows = ENVOY_CAPABILITIES.filter((row) => new RegExp(`\\b${s.id}\\b(?!-)`).test(row.proof ?? ''));
      expect(
        rows.map((r) => r.feature),
        s.id,
      ).toHaveLength(1);
    }
  });
});
