/** Every gRPC capability row, requirement and defect that names a client scenario as its proof names one that exists. */
import { GRPC_CAPABILITIES, GRPC_DEFECTS, GRPC_REQUIREMENTS } from '@meshcp/translators';
import { describe, expect, it } from 'vitest';
import { CLIENT_SCENARIOS, clientTarget, defaultClients, IMPLEMENTATIONS } from '../src/clients/index.js';

describe('gRPC rows and the client axis', () => {
  it('proofs name existing client scenarios', () => {
    const ids = new Set(CLIENT_SCENARIOS.map((s) => s.id));
    const texts = [...GRPC_CAPABILITIES.map((r) => r.proof ?? ''), ...GRPC_REQUIREMENTS.map((r) => r.proof), ...GRPC_DEFECTS.map((d) => d.seen)];
    const named = texts
      .flatMap((t) => t.match(/grpc-[a-z-]+(?=[ ,;)]|$)/g) ?? [])
      .filter((id) => !id.startsWith('grpc-go') && !id.startsWith('grpc-js') && id !== 'grpc-java'); // library names, not scenarios
    expect(named.length).toBeGreaterThan(3);
    for (const id of named) expect(ids, id).toContain(id);
  });

  it('every listed client maps to a capability table and parses from --client', () => {
    for (const target of defaultClients()) {
      expect(IMPLEMENTATIONS[target.implementation].implementation).toMatch(/^grpc-(go|java|core|node)$/);
      expect(clientTarget(target.label)).toEqual(target);
    }
    expect(() => clientTarget('grpc-dotnet@2.0.0')).toThrow(/IMPL@X\.Y\.Z/);
  });
});
