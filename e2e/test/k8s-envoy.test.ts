/**
 * Kubernetes end to end: a real kube-apiserver + etcd, `meshcp serve
 * --kubeconfig`, kubectl, and a real Envoy routing real traffic.
 *  - kubectl apply MeshService (explicit endpoints) → routed
 *  - kubectl apply Service + EndpointSlice (endpoint in a test network namespace) → routed
 *  - kubectl get meshservices shows the status meshcp wrote
 *  - bad objects: rejected by the schema at apply, or by meshcp with a condition naming the field
 *  - kubectl delete → gone from Envoy
 *  - API server (and etcd) stopped and started mid-run: traffic never stops, Envoy
 *    never gets an empty ClusterLoadAssignment, and meshcp catches up afterwards
 */
import { join } from 'node:path';
import { TestApiServer, TestNetns } from '@meshcp/k8s';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Cleanup,
  type EnvoyProcess,
  envoyClusterHosts,
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

function meshService(name: string, ports: number[], extra = ''): string {
  return `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: ${name}, namespace: shop}
spec:
  ports: [{name: http, port: 8080, protocol: HTTP}]
  endpoints:
${ports.map((p) => `  - {address: 127.0.0.1, port: ${p}, locality: {region: eu, zone: eu-1a}}`).join('\n')}
${extra}`;
}

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

describe.skipIf(!TestNetns.canCreate())('meshcp on a real Kubernetes API server, with a real Envoy', () => {
  const cleanup = new Cleanup();
  let api: TestApiServer;
  let netns: TestNetns;
  let meshcp: RunningProcess & { adminPort: number };
  let envoy: EnvoyProcess;
  let payments1: Upstream;
  let payments2: Upstream;

  const conditionsOf = async (name: string): Promise<Condition[]> => {
    const out = await api.kubectlOk(['get', 'meshservice', name, '-n', 'shop', '-o', 'jsonpath={.status.conditions}']);
    return out ? (JSON.parse(out) as Condition[]) : [];
  };

  beforeAll(async () => {
    api = await TestApiServer.start();
    cleanup.add(() => api.destroy());
    netns = TestNetns.create();
    cleanup.add(() => netns.destroy());
    await netns.startHttpServer('orders-1', 9000);
    await api.kubectlOk(['apply', '-f', CRD]);
    await api.kubectlOk(['wait', '--for=condition=Established', 'crd/meshservices.meshcp.io', '--timeout=30s']);
    await api.kubectlOk(['create', 'namespace', 'shop']);
    payments1 = await startUpstream('payments-1', cleanup);
    payments2 = await startUpstream('payments-2', cleanup);

    const xdsPort = await freePort();
    const adminPort = await freePort();
    const started = Date.now();
    const proc = startProcess(
      process.execPath,
      [MESHCP_BIN, 'serve', '--kubeconfig', api.kubeconfig, '--xds-address', `127.0.0.1:${xdsPort}`, '--admin-address', `127.0.0.1:${adminPort}`, '--insecure'],
      cleanup,
    );
    meshcp = { ...proc, adminPort };
    await waitFor(`meshcp /readyz (output: ${proc.output().slice(-500)})`, async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`)).ok, 30_000);
    console.log(`meshcp serve --kubeconfig: /readyz after ${Date.now() - started} ms`);
    // The Envoy is a sidecar of "payments", so the payments MeshService counts it.
    envoy = await startEnvoy({ xdsPort, nodeId: 'payments-sidecar', service: 'payments', namespace: 'shop', region: 'eu', zone: 'eu-1a' }, cleanup);
  });

  afterAll(() => cleanup.run());

  it('kubectl apply a MeshService with explicit endpoints → Envoy routes to them', async () => {
    await api.kubectlOk(['apply', '-f', '-'], meshService('payments', [payments1.port]));
    await waitFor('payments.shop routed to payments-1', async () => (await envoy.request('payments.shop')).body === 'payments-1');
  });

  it('kubectl apply a Service + EndpointSlice → routed to the endpoint (in a test network namespace)', async () => {
    await api.kubectlOk(
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: Service
metadata: {name: orders, namespace: shop}
spec:
  ports: [{name: http, port: 80, targetPort: 9000}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: orders-1, namespace: shop, labels: {kubernetes.io/service-name: orders}}
addressType: IPv4
ports: [{name: http, port: 9000}]
endpoints:
- {addresses: [${netns.address}], conditions: {ready: true}, zone: eu-1a}
`,
    );
    await waitFor('orders.shop routed to orders-1', async () => (await envoy.request('orders.shop')).body === 'orders-1');
  });

  it('kubectl get meshservices shows the status columns meshcp filled in', async () => {
    const row = await waitFor('payments row: Accepted True, Programmed True, 1 endpoint, 1 synced proxy, 0 nacked', async () => {
      const table = await api.kubectlOk(['get', 'meshservices', '-n', 'shop']);
      const line = table.split('\n').find((l) => l.startsWith('payments '));
      return line && /^payments\s+True\s+True\s+1\s+1\s+0\s+\S+$/.test(line.trim()) ? table : undefined;
    });
    expect(row.split('\n')[0]).toMatch(/^NAME\s+ACCEPTED\s+PROGRAMMED\s+ENDPOINTS\s+SYNCED\s+NACKED\s+AGE$/);
  });

  it('a spec the schema forbids is rejected by kubectl apply, naming the field', async () => {
    const result = await api.kubectl(['apply', '-f', '-'], meshService('broken', [70000]));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('spec.endpoints[0].port');
    const dup = await api.kubectl(
      ['apply', '-f', '-'],
      `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: dup, namespace: shop}
spec: {ports: [{name: a, port: 80}, {name: b, port: 80}]}
`,
    );
    expect(dup.status).not.toBe(0);
    expect(dup.stderr).toContain('spec.ports[1]');
  });

  it('a spec the schema accepts but meshcp rejects gets a condition naming the field; the rest keeps working', async () => {
    const bad = meshService('inventory', [payments2.port]).replace('locality:', 'ports: {metrics: 9100}, locality:');
    await api.kubectlOk(['apply', '-f', '-'], bad);
    const accepted = await waitFor('inventory Accepted=False', async () =>
      (await conditionsOf('inventory')).find((c) => c.type === 'Accepted' && c.status === 'False'),
    );
    expect(accepted.message).toContain('spec.endpoints[0].ports.metrics');
    expect((await conditionsOf('inventory')).find((c) => c.type === 'Programmed')).toMatchObject({ status: 'False', reason: 'Invalid' });
    expect((await envoy.request('inventory.shop')).status).toBe(404);

    // An accepted object that turns bad keeps serving its last good generation.
    await api.kubectlOk(['apply', '-f', '-'], meshService('payments', [payments1.port]).replace('locality:', 'ports: {metrics: 9100}, locality:'));
    const programmed = await waitFor('payments Programmed=False ServingLastAccepted', async () =>
      (await conditionsOf('payments')).find((c) => c.type === 'Programmed' && c.reason === 'ServingLastAccepted'),
    );
    expect(programmed.message).toMatch(/generation 2 is rejected; generation 1 keeps serving/);
    expect((await envoy.request('payments.shop')).body).toBe('payments-1');
    expect((await envoy.request('orders.shop')).body).toBe('orders-1');
    await api.kubectlOk(['apply', '-f', '-'], meshService('payments', [payments1.port]));
    await waitFor('payments Programmed=True again', async () => (await conditionsOf('payments')).find((c) => c.type === 'Programmed' && c.status === 'True'));
    await api.kubectlOk(['delete', 'meshservice', 'inventory', '-n', 'shop']);
  });

  it('kubectl delete → gone from Envoy', async () => {
    await api.kubectlOk(['delete', 'service', 'orders', '-n', 'shop']);
    await api.kubectlOk(['delete', 'endpointslice', 'orders-1', '-n', 'shop']);
    await waitFor('orders.shop gone (404) and its cluster removed', async () => {
      const clusters = await envoyClusterHosts(envoy);
      return (await envoy.request('orders.shop')).status === 404 && !clusters.has('orders.shop:80');
    });
  });

  it('API server and etcd stopped and restarted: traffic keeps flowing, no empty ClusterLoadAssignment, meshcp catches up', async () => {
    let samples = 0;
    let emptySamples = 0;
    let failedRequests = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const hosts = (await envoyClusterHosts(envoy)).get('payments.shop:8080') ?? [];
        if (hosts.length === 0) emptySamples++;
        const response = await envoy.request('payments.shop').catch(() => ({ status: 0, body: '' }));
        if (response.status !== 200) failedRequests++;
        samples++;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      await api.stop({ graceSeconds: 3 });
      const downAt = samples;
      await waitFor('20 samples with the API server down', () => samples >= downAt + 20, 30_000);
      expect((await fetch(`http://127.0.0.1:${meshcp.adminPort}/readyz`)).ok, 'meshcp stays ready while the API server is down').toBe(true);
      await api.startAgain();
      const upAt = Date.now();
      await api.kubectlOk(['apply', '-f', '-'], meshService('payments', [payments1.port, payments2.port]));
      await waitFor(
        'Envoy to get the second payments endpoint',
        async () => ((await envoyClusterHosts(envoy)).get('payments.shop:8080') ?? []).length === 2,
        60_000,
      );
      console.log(`API server restart: meshcp caught up ${Date.now() - upAt} ms after the API server was ready`);
    } finally {
      polling = false;
      await poller;
    }
    const stats = await envoy.admin('/stats?filter=payments.shop');
    const updateEmpty = /cluster\.payments\.shop[^:]*8080\.update_empty: (\d+)/.exec(stats);
    expect(updateEmpty, `update_empty stat in ${stats.slice(0, 500)}`).not.toBeNull();
    expect(Number(updateEmpty![1]), 'empty ClusterLoadAssignments Envoy received').toBe(0);
    expect(emptySamples, `samples without payments hosts (of ${samples})`).toBe(0);
    expect(failedRequests, `failed requests (of ${samples})`).toBe(0);
    expect(meshcp.output()).toMatch(/resourceVersion expired; relisting|reconnected/);
  }, 180_000);
});
