/**
 * The Helm chart k8s/chart/meshcp: lint, template, install against a real API
 * server; the objects it creates are the documented ones; and meshcp runs with
 * exactly the chart's RBAC (a token of the chart's ServiceAccount).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestApiServer } from '@meshcp/k8s';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Cleanup, freePort, MESHCP_BIN, REPO_ROOT, startProcess, tempDir, waitFor } from '../src/harness.js';

const CHART = join(REPO_ROOT, 'k8s', 'chart', 'meshcp');
const NS = 'meshcp-system';

interface Container {
  args: string[];
  readinessProbe: { httpGet: { path: string } };
  livenessProbe: { httpGet: { path: string } };
  securityContext: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
  resources: { requests?: Record<string, string> };
}

interface K8sObject {
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
  rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
}

describe('Helm chart k8s/chart/meshcp', () => {
  const cleanup = new Cleanup();
  let api: TestApiServer;

  beforeAll(async () => {
    api = await TestApiServer.start();
    cleanup.add(() => api.destroy());
  });

  afterAll(() => cleanup.run());

  it('helm lint passes', async () => {
    const result = await api.helm(['lint', CHART]);
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });

  it('helm template renders the documented objects with probes, non-root, read-only root fs and resources', async () => {
    const result = await api.helm(['template', 'meshcp', CHART, '--namespace', NS]);
    expect(result.status, result.stderr).toBe(0);
    const objects = parseAllDocuments(result.stdout)
      .map((d) => d.toJS() as K8sObject)
      .filter(Boolean);
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'ClusterRole/meshcp',
      'ClusterRoleBinding/meshcp',
      'Deployment/meshcp',
      'NetworkPolicy/meshcp',
      'PodDisruptionBudget/meshcp',
      'Role/meshcp-leader-election',
      'RoleBinding/meshcp-leader-election',
      'Service/meshcp-admin',
      'Service/meshcp-xds',
      'ServiceAccount/meshcp',
    ]);
    const deployment = objects.find((o) => o.kind === 'Deployment')!;
    const pod = (deployment.spec as { template: { spec: { containers: Container[]; securityContext: { runAsNonRoot?: boolean } } } }).template.spec;
    const container = pod.containers[0]!;
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(container.resources.requests).toBeDefined();
    expect(container.args).not.toContain('--kubeconfig');
    // Least privilege: list/watch on specs, patch on status, and create on the reviews that authenticate
    // xDS streams and admin readers (TokenReview, SubjectAccessReview) — nothing else.
    const clusterRole = objects.find((o) => o.kind === 'ClusterRole')!;
    const reviews = new Set(['tokenreviews', 'subjectaccessreviews']);
    for (const rule of clusterRole.rules!) {
      const statusRule = rule.resources.every((r) => r.endsWith('/status'));
      const reviewRule = rule.resources.every((r) => reviews.has(r));
      expect(rule.verbs, JSON.stringify(rule)).toEqual(statusRule ? ['patch'] : reviewRule ? ['create'] : ['list', 'watch']);
    }
    // Always TLS: the chart never runs meshcp with --insecure.
    expect(container.args.join(' ')).not.toContain('--insecure');
    expect(container.args).toContain('--trust-domain=cluster.local');
  });

  it('the chart ships the same CRD as k8s/crds', () => {
    const inChart = readFileSync(join(CHART, 'crds', 'meshservices.meshcp.io.yaml'), 'utf8');
    expect(inChart).toBe(readFileSync(join(REPO_ROOT, 'k8s', 'crds', 'meshservices.meshcp.io.yaml'), 'utf8'));
  });

  it('helm install creates exactly those objects, and the CRD', async () => {
    const result = await api.helm(['install', 'meshcp', CHART, '--namespace', NS, '--create-namespace']);
    expect(result.status, result.stderr).toBe(0);
    const names = await api.kubectlOk([
      'get',
      'deployment,service,serviceaccount,role,rolebinding,poddisruptionbudget,networkpolicy',
      '-n',
      NS,
      '-l',
      'app.kubernetes.io/instance=meshcp',
      '-o',
      'name',
    ]);
    expect(names.trim().split('\n').sort()).toEqual([
      'deployment.apps/meshcp',
      'networkpolicy.networking.k8s.io/meshcp',
      'poddisruptionbudget.policy/meshcp',
      'role.rbac.authorization.k8s.io/meshcp-leader-election',
      'rolebinding.rbac.authorization.k8s.io/meshcp-leader-election',
      'service/meshcp-admin',
      'service/meshcp-xds',
      'serviceaccount/meshcp',
    ]);
    await api.kubectlOk(['get', 'clusterrole/meshcp', 'clusterrolebinding/meshcp', 'crd/meshservices.meshcp.io']);
  });

  it('meshcp runs with only the chart’s RBAC: lists, watches, leads and writes status', async () => {
    const sa = `system:serviceaccount:${NS}:meshcp`;
    expect((await api.kubectl(['auth', 'can-i', 'list', 'secrets', '--as', sa])).stdout.trim()).toBe('no');
    expect((await api.kubectl(['auth', 'can-i', 'delete', 'meshservices.meshcp.io', '--as', sa])).stdout.trim()).toBe('no');
    const token = (await api.kubectlOk(['create', 'token', 'meshcp', '-n', NS])).trim();
    const env = api.env();
    const dir = tempDir('sa-kubeconfig', cleanup);
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      `apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: ${env.MESHCP_APISERVER_URL}, certificate-authority: ${env.MESHCP_APISERVER_CA}}}]
users: [{name: meshcp, user: {token: ${token}}}]
contexts: [{name: test, context: {cluster: test, user: meshcp}}]
current-context: test
`,
    );
    await api.kubectlOk(['create', 'namespace', 'shop']);
    await api.kubectlOk(
      ['apply', '-f', '-'],
      'apiVersion: meshcp.io/v1alpha1\nkind: MeshService\nmetadata: {name: payments, namespace: shop}\nspec: {ports: [{name: http, port: 8080}], endpoints: [{address: 127.0.0.1, port: 9001}]}\n',
    );
    const adminPort = await freePort();
    const proc = startProcess(
      process.execPath,
      [
        MESHCP_BIN,
        'serve',
        '--kubeconfig',
        kubeconfig,
        '--lease-namespace',
        NS,
        '--xds-address',
        `127.0.0.1:${await freePort()}`,
        '--admin-address',
        `127.0.0.1:${adminPort}`,
      ],
      cleanup,
      { ...process.env, POD_NAME: 'meshcp-rbac-check' },
    );
    await waitFor(
      `/readyz with the ServiceAccount token (output: ${proc.output().slice(-400)})`,
      async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`)).ok,
      30_000,
    );
    await waitFor('Lease held in the release namespace', async () =>
      (await api.kubectlOk(['get', 'lease', 'meshcp-leader', '-n', NS, '-o', 'jsonpath={.spec.holderIdentity}'])) === 'meshcp-rbac-check' ? true : undefined,
    );
    await waitFor('status written with the ServiceAccount', async () =>
      (await api.kubectlOk(['get', 'meshservice', 'payments', '-n', 'shop', '-o', 'jsonpath={.status.conditions[?(@.type=="Accepted")].status}'])) === 'True'
        ? true
        : undefined,
    );
    // Secure by default: the mesh CA went into its Secret with only the chart's RBAC.
    expect(await api.kubectlOk(['get', 'secret', 'meshcp-ca', '-n', NS, '-o', 'jsonpath={.type}'])).toBe('Opaque');
    expect(proc.output()).not.toMatch(/forbidden/i);
  });
});
