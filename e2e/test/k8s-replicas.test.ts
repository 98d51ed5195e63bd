/**
 * Two meshcp replicas against one real API server: both serve xDS with
 * identical content-hash versions; exactly one (the Lease holder) writes
 * status; when it stops, the other takes over the Lease and the writing.
 */
import { join } from 'node:path';
import { TestApiServer } from '@meshcp/k8s';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Cleanup,
  freePort,
  MESHCP_BIN,
  REPO_ROOT,
  type RunningProcess,
  startEnvoy,
  startProcess,
  startUpstream,
  type Upstream,
  waitFor,
} from '../src/harness.js';

const CRD = join(REPO_ROOT, 'k8s', 'crds', 'meshservices.meshcp.io.yaml');

interface Replica extends RunningProcess {
  identity: string;
  xdsPort: number;
  adminPort: number;
}

interface ProxyJson {
  nodeId: string;
  types: Record<string, { short: string; status: string; ackedVersion: string | null }>;
}

function meshService(ports: number[]): string {
  return `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: payments, namespace: shop}
spec:
  ports: [{name: http, port: 8080}]
  endpoints:
${ports.map((p) => `  - {address: 127.0.0.1, port: ${p}, locality: {region: eu, zone: eu-1a}}`).join('\n')}
`;
}

describe('two meshcp replicas on one API server', () => {
  const cleanup = new Cleanup();
  let api: TestApiServer;
  let upstreams: Upstream[];
  const replicas: Replica[] = [];

  async function startReplica(identity: string): Promise<Replica> {
    const xdsPort = await freePort();
    const adminPort = await freePort();
    const proc = startProcess(
      process.execPath,
      [MESHCP_BIN, 'serve', '--kubeconfig', api.kubeconfig, '--xds-address', `127.0.0.1:${xdsPort}`, '--admin-address', `127.0.0.1:${adminPort}`, '--insecure'],
      cleanup,
      { ...process.env, POD_NAME: identity, POD_NAMESPACE: 'default' },
    );
    await waitFor(`${identity} /readyz`, async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`)).ok, 30_000);
    return { ...proc, identity, xdsPort, adminPort };
  }

  const leaseHolder = async () => (await api.kubectlOk(['get', 'lease', 'meshcp-leader', '-n', 'default', '-o', 'jsonpath={.spec.holderIdentity}'])).trim();
  const statusManagers = async (): Promise<string[]> => {
    const out = await api.kubectlOk(['get', 'meshservice', 'payments', '-n', 'shop', '--show-managed-fields', '-o', 'json']);
    const fields = (JSON.parse(out) as { metadata: { managedFields?: { manager: string; subresource?: string }[] } }).metadata.managedFields ?? [];
    return fields.filter((f) => f.subresource === 'status').map((f) => f.manager);
  };

  beforeAll(async () => {
    api = await TestApiServer.start();
    cleanup.add(() => api.destroy());
    await api.kubectlOk(['apply', '-f', CRD]);
    await api.kubectlOk(['wait', '--for=condition=Established', 'crd/meshservices.meshcp.io', '--timeout=30s']);
    await api.kubectlOk(['create', 'namespace', 'shop']);
    upstreams = [await startUpstream('payments-1', cleanup), await startUpstream('payments-2', cleanup)];
    await api.kubectlOk(['apply', '-f', '-'], meshService([upstreams[0]!.port]));
    replicas.push(await startReplica('replica-a'), await startReplica('replica-b'));
  });

  afterAll(() => cleanup.run());

  it('exactly one replica (the Lease holder) writes status', async () => {
    const holder = await waitFor('a Lease holder', async () => (await leaseHolder()) || undefined);
    expect(replicas.map((r) => r.identity)).toContain(holder);
    const managers = await waitFor('status written', async () => {
      const m = await statusManagers();
      return m.length > 0 ? m : undefined;
    });
    // Give the follower every chance to write too: change the object and wait for the leader's new status.
    await api.kubectlOk(['apply', '-f', '-'], meshService([upstreams[0]!.port, upstreams[1]!.port]));
    await waitFor('status for generation 2', async () =>
      (await api.kubectlOk(['get', 'meshservice', 'payments', '-n', 'shop', '-o', 'jsonpath={.status.observedGeneration}/{.status.endpoints}'])) === '2/2'
        ? true
        : undefined,
    );
    expect(managers).toEqual([`meshcp/${holder}`]);
    expect(await statusManagers()).toEqual([`meshcp/${holder}`]);
  });

  it('both replicas serve identical content-hash versions (same proxy, same outbound port, one replica after the other)', async () => {
    const outboundPort = await freePort();
    const seen: Record<string, string | null>[] = [];
    for (const replica of replicas) {
      const envoyCleanup = new Cleanup();
      const envoy = await startEnvoy(
        { xdsPort: replica.xdsPort, nodeId: 'same-proxy', service: 'client', namespace: 'shop', zone: 'eu-1a', region: 'eu', outboundPort },
        envoyCleanup,
      );
      try {
        await waitFor(`traffic via ${replica.identity}`, async () => (await envoy.request('payments.shop')).status === 200);
        const versions = await waitFor(`all four types SYNCED on ${replica.identity}`, async () => {
          const { proxies } = (await (await fetch(`http://127.0.0.1:${replica.adminPort}/debug/proxies`)).json()) as { proxies: ProxyJson[] };
          const types = Object.values(proxies.find((p) => p.nodeId === 'same-proxy')?.types ?? {});
          if (types.length !== 4 || types.some((t) => t.status !== 'SYNCED')) return undefined;
          return Object.fromEntries(types.map((t) => [t.short, t.ackedVersion]));
        });
        seen.push(versions);
      } finally {
        await envoyCleanup.run();
      }
    }
    expect(Object.keys(seen[0]!).sort()).toEqual(['CDS', 'EDS', 'LDS', 'RDS']);
    expect(seen[1]).toEqual(seen[0]);
  });

  it('when the leader stops, the other replica takes over the Lease and the status writing', async () => {
    const holder = await leaseHolder();
    const leader = replicas.find((r) => r.identity === holder)!;
    const other = replicas.find((r) => r.identity !== holder)!;
    const stoppedAt = Date.now();
    await leader.stop(); // releases the Lease on SIGTERM
    await waitFor(`${other.identity} to hold the Lease`, async () => ((await leaseHolder()) === other.identity ? true : undefined), 30_000);
    console.log(`Lease taken over ${Date.now() - stoppedAt} ms after the leader was stopped`);
    await api.kubectlOk(['apply', '-f', '-'], meshService([upstreams[1]!.port]));
    await waitFor(
      `status written by meshcp/${other.identity}`,
      async () => ((await statusManagers()).includes(`meshcp/${other.identity}`) ? true : undefined),
      30_000,
    );
    expect(await api.kubectlOk(['get', 'meshservice', 'payments', '-n', 'shop', '-o', 'jsonpath={.status.observedGeneration}/{.status.endpoints}'])).toBe(
      '3/1',
    );
  });
});
