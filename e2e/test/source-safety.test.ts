/**
 * The file source through a real Envoy: a directory holding two files that both
 * define one MeshService is a conflict (the error names both files and the first
 * definition keeps serving), and a watched file that is emptied or deleted keeps
 * its last good content instead of wiping the mesh.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Cleanup,
  type EnvoyProcess,
  type MeshcpProcess,
  meshYaml,
  startEnvoy,
  startMeshcp,
  startUpstream,
  tally,
  tempDir,
  type Upstream,
  waitFor,
} from '../src/harness.js';

interface ConfigErrorJson {
  source: string;
  object: string;
  path: string;
  message: string;
}

describe('file source safety through a real Envoy', () => {
  const cleanup = new Cleanup();
  let dir: string;
  let meshcp: MeshcpProcess;
  let envoy: EnvoyProcess;
  let first: Upstream;
  let second: Upstream;
  let orders: Upstream;

  const configErrors = async () => ((await (await meshcp.admin('/debug/errors')).json()) as { configErrors: ConfigErrorJson[] }).configErrors;

  beforeAll(async () => {
    first = await startUpstream('payments-first', cleanup);
    second = await startUpstream('payments-second', cleanup);
    orders = await startUpstream('orders', cleanup);
    dir = tempDir('mesh-dir', cleanup);
    writeFileSync(join(dir, 'a-payments.yaml'), meshYaml([{ name: 'payments', endpoints: [{ port: first.port }] }]));
    writeFileSync(join(dir, 'b-payments-again.yaml'), meshYaml([{ name: 'payments', endpoints: [{ port: second.port }] }]));
    writeFileSync(join(dir, 'c-orders.yaml'), meshYaml([{ name: 'orders', endpoints: [{ port: orders.port }] }]));
    meshcp = await startMeshcp(dir, cleanup);
    envoy = await startEnvoy({ xdsPort: meshcp.xdsPort, nodeId: 'e2e-source-safety', region: 'eu', zone: 'eu-1a' }, cleanup);
    await waitFor('payments and orders routable through Envoy', async () => {
      return (await envoy.request('payments.shop', '/')).status === 200 && (await envoy.request('orders.shop', '/')).status === 200;
    });
  });

  afterAll(() => cleanup.run());

  it('two files defining one MeshService: the error names both files, the first definition serves', async () => {
    const errors = await configErrors();
    const conflict = errors.find((e) => e.object === 'MeshService shop/payments');
    expect(conflict?.source).toBe(join(dir, 'b-payments-again.yaml'));
    expect(conflict?.message).toContain(`${join(dir, 'b-payments-again.yaml')} (document 1)`);
    expect(conflict?.message).toContain(`${join(dir, 'a-payments.yaml')} (document 1), which keeps serving`);
    const counts = await tally(envoy, 'payments.shop', '/', 20);
    expect(Object.fromEntries(counts)).toEqual({ 'payments-first': 20 });
  });

  it('an emptied file keeps serving its last good content, with an error', async () => {
    writeFileSync(join(dir, 'c-orders.yaml'), '');
    await waitFor('the empty-file error in /debug/errors', async () => (await configErrors()).find((e) => e.message.includes('the file is empty')));
    expect(Object.fromEntries(await tally(envoy, 'orders.shop', '/', 10))).toEqual({ orders: 10 });
  });

  it('a deleted file keeps serving its last good content, with an error', async () => {
    rmSync(join(dir, 'c-orders.yaml'));
    await waitFor('the removed-file error in /debug/errors', async () =>
      (await configErrors()).find((e) => e.source === join(dir, 'c-orders.yaml') && e.message.includes('removed or moved away')),
    );
    expect(Object.fromEntries(await tally(envoy, 'orders.shop', '/', 10))).toEqual({ orders: 10 });
    expect(Object.fromEntries(await tally(envoy, 'payments.shop', '/', 10))).toEqual({ 'payments-first': 10 });
  });

  it('resolving the conflict by removing the first definition hands payments to the second', async () => {
    // An atomic write (write a temporary file, rename over the old one), as the README recommends.
    const temporary = join(dir, '.a-payments.yaml.tmp');
    writeFileSync(temporary, '# payments moved to b-payments-again.yaml\n');
    renameSync(temporary, join(dir, 'a-payments.yaml'));
    await waitFor('payments to answer from the second definition', async () => {
      const counts = await tally(envoy, 'payments.shop', '/', 5);
      return counts.get('payments-second') === 5;
    });
    expect((await configErrors()).some((e) => e.object === 'MeshService shop/payments')).toBe(false);
    expect(meshcp.child.exitCode).toBeNull();
  });
});
