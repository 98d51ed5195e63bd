/**
 * Sidecar injection without a cluster: injectPod's decisions and patch, and
 * the webhook's AdmissionReview answers (k8s/src/injector). The same code runs
 * in the real cluster in cluster-e2e.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { KubeClient } from '../../k8s/src/client.js';
import { DEFAULT_INJECTOR_CONFIG, type InjectorConfig, injectPod, type JsonPatchOp } from '../../k8s/src/injector/inject.js';
import { InjectorServer } from '../../k8s/src/injector/server.js';

const config: InjectorConfig = { ...DEFAULT_INJECTOR_CONFIG, xdsAddress: '10.96.0.20:18000' };

function pod(extra: { annotations?: Record<string, string>; spec?: Record<string, unknown> } = {}): Record<string, unknown> {
  return {
    metadata: { generateName: 'web-', labels: { app: 'web' }, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: { containers: [{ name: 'web', image: 'web:1', ports: [{ containerPort: 8080 }] }], ...extra.spec },
  };
}

function patchOf(result: ReturnType<typeof injectPod>): JsonPatchOp[] {
  if (!('patch' in result)) throw new Error(`expected a patch, got ${JSON.stringify(result)}`);
  return result.patch;
}

describe('injectPod', () => {
  it('gives the sidecar what secure xDS needs: the trust bundle, a projected token only meshcp accepts, its service account', () => {
    const secure: InjectorConfig = {
      ...config,
      xdsSecurity: { caPem: '-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----', serverName: 'meshcp-xds.meshcp.svc', tokenAudience: 'meshcp' },
    };
    const patch = patchOf(injectPod(pod({ spec: { serviceAccountName: 'web-sa' } }), 'shop', secure));
    const byPath = new Map(patch.map((op) => [op.path, op]));
    expect(byPath.get('/metadata/annotations/meshcp.io~1ca-bundle')?.value).toContain('BEGIN CERTIFICATE');
    const volumes = byPath.get('/spec/volumes')?.value as { name: string; projected?: unknown; downwardAPI?: { items: { path: string }[] } }[];
    expect(volumes.find((v) => v.name === 'meshcp-token')?.projected).toEqual({
      sources: [{ serviceAccountToken: { audience: 'meshcp', expirationSeconds: 86400, path: 'token' } }],
    });
    expect(volumes.find((v) => v.name === 'meshcp-bootstrap')?.downwardAPI?.items.map((i) => i.path)).toEqual(['envoy.json', 'ca.pem']);
    const bootstrap = JSON.parse(String(byPath.get('/metadata/annotations/meshcp.io~1bootstrap')?.value));
    const ads = bootstrap.dynamic_resources.ads_config.grpc_services[0].google_grpc;
    expect(ads.channel_credentials.ssl_credentials.root_certs.filename).toBe('/etc/meshcp/ca.pem');
    expect(ads.call_credentials[0].from_plugin.typed_config.secret_data.filename).toBe('/var/run/secrets/meshcp/token');
    expect(ads.channel_args.args['grpc.ssl_target_name_override'].string_value).toBe('meshcp-xds.meshcp.svc');
    expect(bootstrap.node.metadata['meshcp.service_account']).toBe('web-sa');
    expect(JSON.stringify(bootstrap)).not.toContain('"insecure"');
  });

  it('a pod annotated meshcp.io/proxyless: grpc gets the gRPC xDS bootstrap in its env, its CA and token, and no Envoy or capture', () => {
    const secure: InjectorConfig = {
      ...config,
      xdsSecurity: { caPem: '-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----', serverName: 'meshcp-xds.meshcp.svc', tokenAudience: 'meshcp' },
    };
    const grpcPod = pod({ annotations: { 'meshcp.io/proxyless': 'grpc' } });
    (grpcPod.spec as { containers: Record<string, unknown>[] }).containers[0] = {
      name: 'web',
      image: 'web:1',
      env: [{ name: 'KEEP', value: '1' }],
    };
    const patch = patchOf(injectPod(grpcPod, 'shop', secure));
    const byPath = new Map(patch.map((op) => [op.path, op]));
    expect(byPath.has('/spec/initContainers')).toBe(false);
    const env = byPath.get('/spec/containers/0/env')?.value as { name: string; value?: string; valueFrom?: unknown }[];
    expect(env.map((e) => e.name)).toEqual(['MESHCP_POD_NAME', 'GRPC_XDS_BOOTSTRAP_CONFIG', 'GRPC_EXPERIMENTAL_XDS_BOOTSTRAP_CALL_CREDS', 'KEEP']);
    const bootstrap = JSON.parse(String(env[1]?.value));
    // The pod's name comes from the kubelet's expansion of the env var defined before it.
    expect(bootstrap.node.id).toBe('$(MESHCP_POD_NAME).shop');
    expect(bootstrap.node.metadata['meshcp.service']).toBe('web');
    // gRPC checks meshcp's certificate against server_uri's host: the xDS Service's DNS name.
    expect(bootstrap.xds_servers[0].server_uri).toBe('meshcp-xds.meshcp.svc:18000');
    expect(bootstrap.xds_servers[0].channel_creds).toEqual([{ type: 'tls', config: { ca_certificate_file: '/etc/meshcp/ca.pem' } }]);
    expect(bootstrap.xds_servers[0].call_creds).toEqual([{ type: 'jwt_token_file', config: { jwt_token_file: '/var/run/secrets/meshcp/token' } }]);
    const mounts = byPath.get('/spec/containers/0/volumeMounts')?.value as { mountPath: string }[];
    expect(mounts.map((m) => m.mountPath)).toEqual(['/etc/meshcp', '/var/run/secrets/meshcp']);
    expect(byPath.get('/metadata/annotations/meshcp.io~1injected')?.value).toBe('proxyless-grpc');
    expect(injectPod(pod({ annotations: { 'meshcp.io/proxyless': 'envoy' } }), 'shop', secure)).toEqual({
      denied: 'annotation meshcp.io/proxyless must be "grpc", got "envoy"',
    });
  });

  it('a pod whose app declares no port gets no inbound listener, and its inbound traffic is not redirected', () => {
    const portless = pod();
    (portless.spec as { containers: Record<string, unknown>[] }).containers[0] = { name: 'web', image: 'web:1' };
    const withPort = patchOf(injectPod(pod(), 'shop', config));
    const without = patchOf(injectPod(portless, 'shop', config));
    const initEnv = (patch: JsonPatchOp[]) =>
      (((patch.find((op) => op.path === '/spec/initContainers')?.value ?? []) as { env: { name: string; value?: string }[] }[])[0]?.env ?? []).map(
        (e) => `${e.name}=${e.value}`,
      );
    expect(initEnv(without)).toContain('MESHCP_CAPTURE_INBOUND=false');
    expect(initEnv(withPort).some((e) => e.startsWith('MESHCP_CAPTURE_INBOUND'))).toBe(false);
    const bootstrap = (patch: JsonPatchOp[]) => JSON.parse(String(patch.find((op) => op.path === '/metadata/annotations/meshcp.io~1bootstrap')?.value));
    expect(bootstrap(without).node.metadata['meshcp.inbound_port']).toBeUndefined();
    expect(bootstrap(withPort).node.metadata['meshcp.inbound_port']).toBe(15006);
  });

  it('adds the capture init container, then Envoy as a native sidecar, its bootstrap and volume', () => {
    const patch = patchOf(injectPod(pod(), 'shop', config));
    const byPath = new Map(patch.map((op) => [op.path, op]));
    const init = byPath.get('/spec/initContainers')?.value as {
      name: string;
      image: string;
      restartPolicy?: string;
      args?: string[];
      env?: { name: string; value?: string }[];
    }[];
    expect(init.map((c) => c.name)).toEqual(['meshcp-init', 'meshcp-proxy']);
    expect(init[1]?.restartPolicy).toBe('Always');
    expect(init[1]?.image).toBe('meshcp.local/envoy:v1.40.0');
    expect(init[1]?.args).toContain('$(POD_NAME).$(POD_NAMESPACE)');
    expect(Object.fromEntries((init[0]?.env ?? []).map((e) => [e.name, e.value]))).toEqual({
      MESHCP_CAPTURE_PORT: '15001',
      MESHCP_INBOUND_PORT: '15006',
      MESHCP_PROXY_UID: '101',
      MESHCP_EXCLUDE_INBOUND_PORTS: '15000',
      MESHCP_EXCLUDE_OUTBOUND_PORTS: '18000',
    });
    expect(byPath.get('/metadata/annotations')?.value).toEqual({});
    const bootstrap = JSON.parse(byPath.get('/metadata/annotations/meshcp.io~1bootstrap')?.value as string);
    expect(bootstrap.node.metadata).toMatchObject({
      'meshcp.namespace': 'shop',
      'meshcp.service': 'web',
      'meshcp.outbound_port': 15081,
      'meshcp.capture_port': 15001,
      'meshcp.outbound_address': '0.0.0.0',
      'meshcp.inbound_port': 15006,
      'meshcp.app_port': 8080,
      'meshcp.tcp_port_offset': 20000,
    });
    expect(JSON.stringify(bootstrap.static_resources)).toContain('"address":"10.96.0.20","port_value":18000');
    expect(byPath.get('/metadata/annotations/meshcp.io~1injected')?.value).toBe('1.40.0');
    expect(byPath.get('/spec/volumes')?.value).toEqual([
      { name: 'meshcp-bootstrap', downwardAPI: { items: [{ path: 'envoy.json', fieldRef: { fieldPath: "metadata.annotations['meshcp.io/bootstrap']" } }] } },
    ]);
  });

  it('keeps the pod’s own init containers (after Envoy) and volumes, and honours the version annotation', () => {
    const patch = patchOf(
      injectPod(
        pod({
          annotations: { 'meshcp.io/envoy-version': '1.36.4' },
          spec: { initContainers: [{ name: 'migrate', image: 'm:1' }], volumes: [{ name: 'data', emptyDir: {} }] },
        }),
        'shop',
        config,
      ),
    );
    const init = patch.find((op) => op.path === '/spec/initContainers');
    expect(init?.op).toBe('replace');
    expect(((init?.value ?? []) as { name: string; image: string }[]).map((c) => `${c.name}=${c.image}`)).toEqual([
      'meshcp-init=meshcp.local/init:1',
      'meshcp-proxy=meshcp.local/envoy:v1.36.4',
      'migrate=m:1',
    ]);
    expect(patch.find((op) => op.path === '/spec/volumes/-')?.op).toBe('add');
  });

  it('gives Envoy a node cluster even when the pod names no service (Envoy refuses ADS without one)', () => {
    const unlabelled = { metadata: { name: 'box' }, spec: { containers: [{ name: 'box', image: 'b:1' }] } };
    const patch = patchOf(injectPod(unlabelled, 'shop', config));
    const init = patch.find((op) => op.path === '/spec/initContainers')?.value as { name: string; args?: string[] }[];
    expect(init.find((c) => c.name === 'meshcp-proxy')?.args?.slice(-2)).toEqual(['--service-cluster', 'shop']);
    const labelled = patchOf(injectPod(pod(), 'shop', config)).find((op) => op.path === '/spec/initContainers')?.value as { args?: string[] }[];
    expect(labelled.flatMap((c) => c.args ?? [])).not.toContain('--service-cluster');
  });

  it('skips opted-out, host-network and already injected pods; denies a version that is not X.Y.Z', () => {
    expect(injectPod(pod({ annotations: { 'meshcp.io/inject': 'false' } }), 'shop', config)).toEqual({ skipped: 'annotation meshcp.io/inject: "false"' });
    expect(injectPod(pod({ spec: { hostNetwork: true } }), 'shop', config)).toHaveProperty('skipped');
    const injected = pod({ spec: { initContainers: [{ name: 'meshcp-proxy' }] } });
    expect(injectPod(injected, 'shop', config)).toEqual({ skipped: 'already injected' });
    expect(injectPod(pod({ annotations: { 'meshcp.io/envoy-version': 'latest' } }), 'shop', config)).toEqual({
      denied: 'annotation meshcp.io/envoy-version must be an Envoy version X.Y.Z, got "latest"',
    });
  });
});

describe('the webhook’s AdmissionReview answers', () => {
  const server = new InjectorServer({
    client: {} as KubeClient,
    namespace: 'meshcp',
    caSecret: 'ca',
    webhookConfiguration: 'meshcp-injector',
    dnsNames: ['meshcp-injector.meshcp.svc'],
    port: 0,
    config,
  });

  it('answers with the request uid and a base64 JSON patch', () => {
    const answer = server.review(JSON.stringify({ request: { uid: 'u-1', namespace: 'shop', object: pod() } })) as {
      response: { uid: string; allowed: boolean; patchType: string; patch: string };
    };
    expect(answer.response.uid).toBe('u-1');
    expect(answer.response.allowed).toBe(true);
    expect(answer.response.patchType).toBe('JSONPatch');
    const ops = JSON.parse(Buffer.from(answer.response.patch, 'base64').toString()) as JsonPatchOp[];
    expect(ops.map((op) => op.path)).toContain('/spec/initContainers');
  });

  it('refuses what it cannot read instead of throwing, and counts it', () => {
    for (const body of ['not json', '{}', JSON.stringify({ request: { uid: 'u-2' } })]) {
      const answer = server.review(body) as { response: { allowed: boolean; status: { message: string } } };
      expect(answer.response.allowed).toBe(false);
      expect(answer.response.status.message).toMatch(/^meshcp injector: /);
    }
    expect(server.counts.errors).toBe(3);
  });
});
