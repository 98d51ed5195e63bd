/**
 * The injector's pure patch builder (injector/inject.ts): what a sidecar and a
 * proxyless gRPC pod get, in the parts both share — the ServiceAccount the bootstrap
 * names, the xDS port, the trust bundle and the projected token with their mounts and
 * volumes. (The real admission path runs in e2e/test/cluster-injector.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import {
  BOOTSTRAP_ANNOTATION,
  CA_BUNDLE_ANNOTATION,
  DEFAULT_INJECTOR_CONFIG,
  GRPC_BOOTSTRAP_ENV,
  INJECTED_ANNOTATION,
  type InjectorConfig,
  injectPod,
  type JsonPatchOp,
  TOKEN_DIR,
} from '../src/injector/inject.js';

type Obj = Record<string, unknown>;
const plain: InjectorConfig = { ...DEFAULT_INJECTOR_CONFIG, xdsAddress: '10.0.0.1:18000' };
const secure: InjectorConfig = { ...plain, xdsSecurity: { caPem: 'PEM', serverName: 'meshcp.meshcp-system.svc', tokenAudience: 'meshcp-xds' } };
const TOKEN_VOLUME = {
  name: 'meshcp-token',
  projected: { sources: [{ serviceAccountToken: { audience: 'meshcp-xds', expirationSeconds: 86400, path: 'token' } }] },
};
const TOKEN_MOUNT = { name: 'meshcp-token', mountPath: TOKEN_DIR, readOnly: true };

function patchOf(pod: Obj, config: InjectorConfig): JsonPatchOp[] {
  const result = injectPod(pod, 'shop', config);
  if (!('patch' in result)) throw new Error(`not injected: ${JSON.stringify(result)}`);
  return result.patch;
}
const valueAt = (patch: JsonPatchOp[], path: string) => patch.find((op) => op.path === path)?.value;
const annotation = (name: string) => `/metadata/annotations/${name.replace(/\//g, '~1')}`;
const sidecarPod = (spec: Obj = {}, metadata: Obj = {}): Obj => ({
  metadata: { name: 'p', labels: { app: 'pay' }, ...metadata },
  spec: { containers: [{ name: 'app', ports: [{ containerPort: 8080 }] }], ...spec },
});
const proxylessPod = (spec: Obj = {}): Obj => ({
  metadata: { name: 'p', annotations: { 'meshcp.io/proxyless': 'grpc' } },
  spec: { containers: [{ name: 'a', env: [{ name: 'OWN', value: '1' }] }, { name: 'b' }], ...spec },
});

describe('sidecar injection', () => {
  it("names the pod's ServiceAccount in the bootstrap, and Kubernetes' default when it names none", () => {
    const serviceAccount = (spec: Obj) =>
      (JSON.parse(valueAt(patchOf(sidecarPod(spec), plain), annotation(BOOTSTRAP_ANNOTATION)) as string) as { node: { metadata: Obj } }).node.metadata[
        'meshcp.service_account'
      ];
    expect(serviceAccount({ serviceAccountName: 'pay-sa' })).toBe('pay-sa');
    expect(serviceAccount({})).toBe('default');
    expect(serviceAccount({ serviceAccountName: '' })).toBe('default');
  });

  it("keeps the xDS port out of the capture, so Envoy's own xDS stream is not redirected to itself", () => {
    const [init] = valueAt(patchOf(sidecarPod(), plain), '/spec/initContainers') as { env: { name: string; value: string }[] }[];
    expect(init?.env.find((e) => e.name === 'MESHCP_EXCLUDE_OUTBOUND_PORTS')?.value).toBe('18000');
  });

  it('with secure xDS: the trust bundle annotation, the projected token for meshcp only, mounted where the bootstrap reads it', () => {
    const patch = patchOf(sidecarPod({ volumes: [{ name: 'own' }] }), secure);
    expect(patch.filter((op) => op.path.startsWith('/metadata/annotations/')).map((op) => op.path)).toEqual([
      annotation(BOOTSTRAP_ANNOTATION),
      annotation(INJECTED_ANNOTATION),
      annotation(CA_BUNDLE_ANNOTATION),
    ]);
    expect(valueAt(patch, annotation(CA_BUNDLE_ANNOTATION))).toBe('PEM');
    // The pod has volumes: ours are appended, its own kept.
    const appended = patch.filter((op) => op.path === '/spec/volumes/-').map((op) => op.value as Obj);
    expect(appended.map((v) => v.name)).toEqual(['meshcp-bootstrap', 'meshcp-token']);
    expect(appended[1]).toEqual(TOKEN_VOLUME);
    const proxy = (valueAt(patch, '/spec/initContainers') as Obj[])[1] as { volumeMounts: Obj[] };
    expect(proxy.volumeMounts).toContainEqual(TOKEN_MOUNT);
    const bootstrap = JSON.stringify(JSON.parse(valueAt(patch, annotation(BOOTSTRAP_ANNOTATION)) as string));
    expect(bootstrap).toContain('/etc/meshcp/ca.pem');
    expect(bootstrap).toContain(`${TOKEN_DIR}/token`);
  });

  it('without secure xDS: no token, no trust bundle, and a pod without volumes gets the list created', () => {
    const patch = patchOf(sidecarPod(), plain);
    expect(valueAt(patch, '/metadata/annotations')).toEqual({});
    expect(valueAt(patch, annotation(CA_BUNDLE_ANNOTATION))).toBeUndefined();
    expect((valueAt(patch, '/spec/volumes') as Obj[]).map((v) => v.name)).toEqual(['meshcp-bootstrap']);
  });
});

describe('proxyless gRPC injection', () => {
  it('with secure xDS: server_uri by the certificate name and the xDS port, the default ServiceAccount, token and bundle mounted in every container', () => {
    const patch = patchOf(proxylessPod({ volumes: [] }), secure);
    expect(valueAt(patch, annotation(INJECTED_ANNOTATION))).toBe('proxyless-grpc');
    expect(valueAt(patch, annotation(CA_BUNDLE_ANNOTATION))).toBe('PEM');
    const env = valueAt(patch, '/spec/containers/0/env') as { name: string; value?: string }[];
    expect(env.at(-1)).toEqual({ name: 'OWN', value: '1' });
    const bootstrap = JSON.parse(env.find((e) => e.name === GRPC_BOOTSTRAP_ENV)?.value as string);
    expect(bootstrap.xds_servers[0].server_uri).toBe('meshcp.meshcp-system.svc:18000');
    expect(bootstrap.node.metadata['meshcp.service_account']).toBe('default');
    for (const index of [0, 1]) expect(valueAt(patch, `/spec/containers/${index}/volumeMounts`)).toContainEqual(TOKEN_MOUNT);
    const appended = patch.filter((op) => op.path === '/spec/volumes/-').map((op) => op.value as Obj);
    expect(appended.map((v) => v.name)).toEqual(['meshcp-ca', 'meshcp-token']);
    expect(appended[1]).toEqual(TOKEN_VOLUME);
  });

  it('without secure xDS: the plain address, no mounts and no volumes', () => {
    const patch = patchOf(proxylessPod({ serviceAccountName: 'g-sa' }), plain);
    const env = valueAt(patch, '/spec/containers/1/env') as { name: string; value?: string }[];
    const bootstrap = JSON.parse(env.find((e) => e.name === GRPC_BOOTSTRAP_ENV)?.value as string);
    expect(bootstrap.xds_servers[0].server_uri).toBe('10.0.0.1:18000');
    expect(bootstrap.node.metadata['meshcp.service_account']).toBe('g-sa');
    expect(patch.some((op) => op.path.includes('volume'))).toBe(false);
  });
});
