/**
 * The chart's mesh-wide tracing values (`mesh.tracing.collector`, `samplingPercent`)
 * become `meshcp serve --tracing-*` flags; empty collector, no flags. `helm template`
 * only (no API server); what the flags do is e2e/test/tracing.test.ts's business.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { kubeTools } from '../src/testing/apiserver.js';

const CHART = join(dirname(fileURLToPath(import.meta.url)), '..', 'chart', 'meshcp');
const home = mkdtempSync(join(tmpdir(), 'helm-tracing-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

async function serveArgs(...set: string[]): Promise<string[]> {
  const env = { ...process.env, HELM_CACHE_HOME: join(home, 'cache'), HELM_CONFIG_HOME: join(home, 'config'), HELM_DATA_HOME: join(home, 'data') };
  const { stdout } = await promisify(execFile)(
    kubeTools().helm,
    ['template', 'meshcp', CHART, '--namespace', 'meshcp-system', ...set.flatMap((s) => ['--set', s])],
    {
      env,
    },
  );
  const deployment = parseAllDocuments(stdout)
    .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string }; spec?: { template: { spec: { containers: { name: string; args: string[] }[] } } } })
    .find((o) => o?.kind === 'Deployment' && o.metadata?.name === 'meshcp');
  const container = deployment?.spec?.template.spec.containers.find((c) => c.name === 'meshcp');
  if (!container) throw new Error('helm template rendered no meshcp Deployment');
  return container.args;
}

describe('chart: mesh.tracing values', () => {
  it('no collector, no tracing flags', async () => {
    expect((await serveArgs()).filter((a) => a.startsWith('--tracing'))).toEqual([]);
  });

  it('a collector and a sampling percent become serve flags', async () => {
    const args = await serveArgs('mesh.tracing.collector=otel-collector.observability.svc.cluster.local:4317', 'mesh.tracing.samplingPercent=10');
    expect(args.filter((a) => a.startsWith('--tracing'))).toEqual([
      '--tracing-collector=otel-collector.observability.svc.cluster.local:4317',
      '--tracing-sampling-percent=10',
    ]);
  });
});
