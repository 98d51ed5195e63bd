/**
 * MeshAccessPolicy status on a real kube-apiserver (the CRDs from k8s/crds, with
 * their status subresource): the status writer sets Accepted / ResolvedRefs /
 * Programmed like on the other kinds — a valid policy is programmed, one whose
 * target MeshService does not exist is TargetNotFound, one with an invalid spec
 * names the field at fault — and a fixed policy turns True again.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Condition, KubernetesSource, StatusWriter, TestApiServer } from '../src/index.js';

const CRDS = join(import.meta.dirname, '..', 'crds');

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value as T;
      last = value;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
}

const policy = (name: string, target: string, rules = '[{from: [{serviceAccounts: [shop/frontend]}]}]') => `apiVersion: meshcp.io/v1alpha1
kind: MeshAccessPolicy
metadata: {name: ${name}, namespace: shop}
spec:
  targetRef: {kind: MeshService, name: ${target}}
  rules: ${rules}
`;

describe('MeshAccessPolicy status conditions (real API server)', () => {
  let api: TestApiServer;
  let source: KubernetesSource;
  let writer: StatusWriter;

  const status = async (name: string) => {
    const object = JSON.parse(await api.kubectlOk(['-n', 'shop', 'get', 'meshaccesspolicy', name, '-o', 'json'])) as {
      metadata: { generation: number };
      status?: { observedGeneration?: number; conditions?: Condition[] };
    };
    const byType = Object.fromEntries((object.status?.conditions ?? []).map((c) => [c.type, c]));
    return { generation: object.metadata.generation, observed: object.status?.observedGeneration, byType };
  };

  beforeAll(async () => {
    api = await TestApiServer.start();
    for (const crd of ['meshservices.meshcp.io.yaml', 'meshaccesspolicies.meshcp.io.yaml']) await api.kubectlOk(['apply', '-f', join(CRDS, crd)]);
    for (const crd of ['meshservices.meshcp.io', 'meshaccesspolicies.meshcp.io'])
      await api.kubectlOk(['wait', '--for=condition=Established', `crd/${crd}`, '--timeout=30s']);
    await api.kubectlOk(['create', 'namespace', 'shop']);
    await api.kubectlOk(
      ['apply', '-f', '-'],
      `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: payments, namespace: shop}
spec:
  serviceAccount: payments
  mtls: {mode: STRICT}
  ports: [{name: http, port: 8080}]
  endpoints: [{address: 127.0.0.1, port: 9001}]
`,
    );
    source = new KubernetesSource(api.client(), { backoff: { initialMs: 100, maxMs: 1000 }, absentRecheckMs: 300, watchTimeoutSeconds: 60 });
    await source.start(() => undefined);
    writer = new StatusWriter({ client: api.client(), reports: () => source.reports(), refreshMs: 300, fieldManager: 'meshcp/test' });
    source.onReports(() => writer.kick());
    writer.start();
  });

  afterAll(async () => {
    writer?.stop();
    source?.stop();
    await api?.destroy();
  });

  it('a valid policy: Accepted, ResolvedRefs and Programmed True for its generation', async () => {
    await api.kubectlOk(['apply', '-f', '-'], policy('payments-callers', 'payments'));
    const got = await waitFor('the policy programmed', async () => {
      const s = await status('payments-callers');
      return s.byType.Programmed?.status === 'True' ? s : undefined;
    });
    expect(got.observed).toBe(got.generation);
    expect(got.byType.Accepted).toMatchObject({ status: 'True', reason: 'Accepted', observedGeneration: got.generation });
    expect(got.byType.ResolvedRefs).toMatchObject({ status: 'True', reason: 'ResolvedRefs' });
    // kubectl's printer columns read the same conditions.
    const row = await api.kubectlOk(['-n', 'shop', 'get', 'meshaccesspolicy', 'payments-callers', '--no-headers']);
    expect(row).toMatch(/^payments-callers\s+payments\s+True\s+True\s/);
  });

  it('a policy whose target does not exist: ResolvedRefs False (TargetNotFound), not programmed', async () => {
    await api.kubectlOk(['apply', '-f', '-'], policy('ghost-callers', 'ghost'));
    const got = await waitFor('ResolvedRefs False', async () => {
      const s = await status('ghost-callers');
      return s.byType.ResolvedRefs?.status === 'False' ? s : undefined;
    });
    expect(got.byType.Accepted?.status).toBe('True');
    expect(got.byType.ResolvedRefs).toMatchObject({ reason: 'TargetNotFound' });
    expect(got.byType.ResolvedRefs?.message).toContain('MeshService shop/ghost not found');
    expect(got.byType.Programmed).toMatchObject({ status: 'False' });
  });

  it('an invalid spec: Accepted False naming the field; the last accepted generation keeps serving; fixed, True again', async () => {
    await api.kubectlOk(['apply', '-f', '-'], policy('orders-callers', 'payments'));
    await waitFor('orders-callers programmed', async () => (await status('orders-callers')).byType.Programmed?.status === 'True');
    // Passes the CRD's schema, not meshcp's checks.
    await api.kubectlOk(['apply', '-f', '-'], policy('orders-callers', 'payments', '[{from: [{spiffeIds: [not-a-spiffe-id]}]}]'));
    const rejected = await waitFor('Accepted False', async () => {
      const s = await status('orders-callers');
      return s.byType.Accepted?.status === 'False' && s.observed === s.generation ? s : undefined;
    });
    expect(rejected.byType.Accepted).toMatchObject({ reason: 'Invalid' });
    expect(rejected.byType.Accepted?.message).toMatch(/^spec\.rules\[0\]\.from\[0\]\.spiffeIds\[0\]: must be a SPIFFE ID/);
    expect(rejected.byType.Programmed).toMatchObject({ status: 'False', reason: 'ServingLastAccepted' });
    expect(source.reports().find((r) => r.object.name === 'orders-callers')?.servedGeneration).toBe(rejected.generation - 1);
    await api.kubectlOk(['apply', '-f', '-'], policy('orders-callers', 'payments'));
    await waitFor('Accepted True again', async () => {
      const s = await status('orders-callers');
      return s.byType.Accepted?.status === 'True' && s.byType.Programmed?.status === 'True' && s.observed === s.generation;
    });
  });
});
