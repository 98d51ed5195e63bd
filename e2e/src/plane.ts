/** An in-process control plane for tests that also need to plant faults or read its state. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Cleanup, tempDir } from '@meshcp/compat-matrix';
import { ControlPlane } from 'meshcp';

export interface TestPlane {
  plane: ControlPlane;
  file: string;
  write: (yaml: string) => void;
  /** Per type (CDS/EDS/LDS/RDS) status of one proxy in /debug/proxies. */
  types: (nodeId: string) => Promise<Record<string, { status: string; sentVersion: string | null; lastNack: { error: string } | null }>>;
}

export async function startPlane(yaml: string, cleanup: Cleanup): Promise<TestPlane> {
  const file = join(tempDir('plane', cleanup), 'mesh.yaml');
  writeFileSync(file, yaml);
  const plane = new ControlPlane({ file, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', debounceQuietMs: 20, debounceMaxMs: 200 });
  await plane.start();
  cleanup.add(() => plane.stop());
  return {
    plane,
    file,
    write: (text) => writeFileSync(file, text),
    types: async (nodeId) => {
      const response = await fetch(`http://127.0.0.1:${plane.adminPort}/debug/proxies`);
      const { proxies } = (await response.json()) as {
        proxies: { nodeId: string; types: Record<string, { short: string; status: string; sentVersion: string | null; lastNack: { error: string } | null }> }[];
      };
      return Object.fromEntries(Object.values(proxies.find((p) => p.nodeId === nodeId)?.types ?? {}).map((t) => [t.short, t]));
    },
  };
}
