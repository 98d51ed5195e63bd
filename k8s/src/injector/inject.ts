/**
 * Sidecar injection as a pure function: a Pod (from an AdmissionReview) in, a
 * JSON patch out. Opt-in is the webhook's namespaceSelector
 * (`meshcp.io/inject=enabled`); a pod opts out with the annotation
 * `meshcp.io/inject: "false"` and picks its Envoy with `meshcp.io/envoy-version`.
 *
 * What it adds:
 *   - `meshcp-init`: an init container (NET_ADMIN, NET_RAW, root) that installs
 *     the capture rules (k8s/images/capture.sh): outbound TCP → Envoy's
 *     outbound listener, inbound TCP → Envoy's inbound listener, Envoy's own
 *     uid and the xDS/admin ports excluded;
 *   - `meshcp-proxy`: Envoy as a native sidecar (an init container with
 *     `restartPolicy: Always`, so it starts before the app and stops after it),
 *     running as uid 101 with its bootstrap from the pod's own annotation
 *     (a downwardAPI volume): node id `<pod>.<namespace>` (Envoy's
 *     --service-node, expanded by the kubelet from the pod's name), the
 *     service, the inbound listener in front of the app's first port.
 *
 * A pod annotated `meshcp.io/proxyless: grpc` gets no Envoy and no capture: its
 * gRPC library talks xDS itself. Every app container gets the gRPC xDS
 * bootstrap in `GRPC_XDS_BOOTSTRAP_CONFIG` (node id `<pod>.<namespace>` through
 * the kubelet's $(POD_NAME) expansion), and with secure xDS the trust bundle
 * and the projected token the bootstrap names.
 */
import { envoyBootstrap, grpcBootstrap, METADATA } from '@meshcp/translators';

export const INJECT_LABEL = 'meshcp.io/inject';
export const INJECT_ANNOTATION = 'meshcp.io/inject';
export const ENVOY_VERSION_ANNOTATION = 'meshcp.io/envoy-version';
export const SERVICE_ANNOTATION = 'meshcp.io/service';
export const BOOTSTRAP_ANNOTATION = 'meshcp.io/bootstrap';
export const INJECTED_ANNOTATION = 'meshcp.io/injected';
export const PROXY_CONTAINER = 'meshcp-proxy';
export const INIT_CONTAINER = 'meshcp-init';
export const PROXYLESS_ANNOTATION = 'meshcp.io/proxyless';
/** The env var grpc-go, grpc-java and grpcio read their xDS bootstrap from (JSON text). */
export const GRPC_BOOTSTRAP_ENV = 'GRPC_XDS_BOOTSTRAP_CONFIG';

export interface InjectorConfig {
  /** host:port of meshcp's xDS server as the pod reaches it. */
  xdsAddress: string;
  /** Image of the sidecar; `{version}` is replaced by the Envoy version. */
  envoyImage: string;
  defaultEnvoyVersion: string;
  initImage: string;
  imagePullPolicy: string;
  /** Envoy's uid (and gid); its traffic is never captured. */
  proxyUid: number;
  /** Where iptables sends the app's outbound TCP: Envoy's capture listener (original destination). */
  capturePort: number;
  /** Envoy's explicit outbound HTTP listener (for apps that address the proxy themselves). */
  outboundPort: number;
  inboundPort: number;
  adminPort: number;
  tcpPortOffset: number;
  /**
   * How sidecars reach meshcp securely: TLS checked against the mesh trust bundle
   * (as meshcp's certificate names `serverName`), authenticated by the pod's own
   * projected ServiceAccount token for `tokenAudience`.
   */
  xdsSecurity?: { caPem: string; serverName: string; tokenAudience: string };
}

export const CA_BUNDLE_ANNOTATION = 'meshcp.io/ca-bundle';
/** Where the sidecar finds its projected token (rotated by the kubelet; Envoy re-reads it). */
export const TOKEN_DIR = '/var/run/secrets/meshcp';

export const DEFAULT_INJECTOR_CONFIG: Omit<InjectorConfig, 'xdsAddress'> = {
  envoyImage: 'meshcp.local/envoy:v{version}',
  defaultEnvoyVersion: '1.40.0',
  initImage: 'meshcp.local/init:1',
  imagePullPolicy: 'IfNotPresent',
  proxyUid: 101,
  capturePort: 15001,
  outboundPort: 15081,
  inboundPort: 15006,
  adminPort: 15000,
  tcpPortOffset: 20000,
};

type Obj = Record<string, unknown>;
export interface JsonPatchOp {
  op: 'add' | 'replace';
  path: string;
  value: unknown;
}

export type InjectResult = { patch: JsonPatchOp[] } | { skipped: string } | { denied: string };

const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const escapePointer = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

type XdsSecurity = NonNullable<InjectorConfig['xdsSecurity']>;

/** The ServiceAccount the pod runs as (Kubernetes' default when it names none): the identity meshcp checks its token against. */
const serviceAccountOf = (spec: Obj): string =>
  typeof spec.serviceAccountName === 'string' && spec.serviceAccountName !== '' ? spec.serviceAccountName : 'default';

/** The port of meshcp's xDS address. */
const xdsPortOf = (config: InjectorConfig): string => config.xdsAddress.slice(config.xdsAddress.lastIndexOf(':') + 1);

/** Where a bootstrap finds the trust bundle and the token (both mounted under /etc/meshcp and TOKEN_DIR). */
const bootstrapSecurity = (security: XdsSecurity) => ({ caFile: '/etc/meshcp/ca.pem', tokenFile: `${TOKEN_DIR}/token`, serverName: security.serverName });

/** The trust bundle, read by the kubelet from the pod's own annotation. */
const CA_BUNDLE_ITEM = { path: 'ca.pem', fieldRef: { fieldPath: `metadata.annotations['${CA_BUNDLE_ANNOTATION}']` } };

const TOKEN_MOUNT = { name: 'meshcp-token', mountPath: TOKEN_DIR, readOnly: true };

/** The pod's own identity for xDS: a token only meshcp accepts (its audience), refreshed by the kubelet. */
const tokenVolume = (security: XdsSecurity) => ({
  name: 'meshcp-token',
  projected: { sources: [{ serviceAccountToken: { audience: security.tokenAudience, expirationSeconds: 86400, path: 'token' } }] },
});

/** The annotations every injection writes: what was injected and, with secure xDS, the trust bundle. */
function annotationPatch(metadata: Obj, injected: string, security: XdsSecurity | undefined, extra: Record<string, string> = {}): JsonPatchOp[] {
  const patch: JsonPatchOp[] = [];
  if (metadata.annotations === undefined) patch.push({ op: 'add', path: '/metadata/annotations', value: {} });
  for (const [name, value] of Object.entries(extra)) patch.push({ op: 'add', path: `/metadata/annotations/${escapePointer(name)}`, value });
  patch.push({ op: 'add', path: `/metadata/annotations/${escapePointer(INJECTED_ANNOTATION)}`, value: injected });
  if (security) patch.push({ op: 'add', path: `/metadata/annotations/${escapePointer(CA_BUNDLE_ANNOTATION)}`, value: security.caPem });
  return patch;
}

/** Adds volumes to the pod, creating the list when it has none. */
function volumePatch(spec: Obj, volumes: readonly Obj[]): JsonPatchOp[] {
  if (spec.volumes === undefined) return [{ op: 'add', path: '/spec/volumes', value: volumes }];
  return volumes.map((value) => ({ op: 'add', path: '/spec/volumes/-', value }));
}

/** The mesh service a pod belongs to: its annotation, else the usual app labels. */
export function serviceOf(pod: Obj): string | undefined {
  const metadata = obj(pod.metadata);
  const annotations = obj(metadata.annotations);
  const labels = obj(metadata.labels);
  for (const value of [annotations[SERVICE_ANNOTATION], labels['app.kubernetes.io/name'], labels.app]) {
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

export function injectPod(pod: Obj, namespace: string, config: InjectorConfig): InjectResult {
  const metadata = obj(pod.metadata);
  const annotations = obj(metadata.annotations);
  const spec = obj(pod.spec);
  if (annotations[INJECT_ANNOTATION] === 'false') return { skipped: `annotation ${INJECT_ANNOTATION}: "false"` };
  if (spec.hostNetwork === true) return { skipped: 'hostNetwork pod (capture would change the node’s network)' };
  const containers = arr(spec.containers);
  const initContainers = arr(spec.initContainers);
  if ([...containers, ...initContainers].some((c) => c.name === PROXY_CONTAINER)) return { skipped: 'already injected' };

  const version = annotations[ENVOY_VERSION_ANNOTATION] ?? config.defaultEnvoyVersion;
  if (typeof version !== 'string' || !/^\d+\.\d+\.\d+$/.test(version)) {
    return { denied: `annotation ${ENVOY_VERSION_ANNOTATION} must be an Envoy version X.Y.Z, got ${JSON.stringify(version)}` };
  }
  const service = serviceOf(pod) ?? '';
  const proxyless = annotations[PROXYLESS_ANNOTATION];
  if (proxyless !== undefined) {
    if (proxyless !== 'grpc') return { denied: `annotation ${PROXYLESS_ANNOTATION} must be "grpc", got ${JSON.stringify(proxyless)}` };
    return injectProxylessGrpc(pod, namespace, service, config);
  }
  const appPort = arr(obj(containers[0]).ports)
    .map((p) => p.containerPort)
    .find((p): p is number => typeof p === 'number');

  const security = config.xdsSecurity;
  const bootstrap = envoyBootstrap({
    // Replaced by --service-node below: at admission a pod may not have its name yet (generateName).
    nodeId: `pending.${namespace}`,
    service,
    namespace,
    serviceAccount: serviceAccountOf(spec),
    ...(security ? { security: bootstrapSecurity(security) } : {}),
    xdsAddress: config.xdsAddress,
    adminPort: config.adminPort,
    outboundPort: config.outboundPort,
    // Explicit TCP listeners (service port + offset) stay above 1024: Envoy
    // runs unprivileged, and one listener it cannot bind fails all of LDS.
    tcpPortOffset: config.tcpPortOffset,
    ...(appPort !== undefined ? { inboundPort: config.inboundPort, appPort } : {}),
    delta: false,
  });
  // Listeners on every address: capture redirects inbound traffic to the pod's
  // own address (PREROUTING), outbound to 127.0.0.1 (OUTPUT).
  const nodeMetadata = obj(obj(bootstrap.node).metadata);
  nodeMetadata[METADATA.outboundAddress] = '0.0.0.0';
  nodeMetadata[METADATA.capturePort] = config.capturePort;

  const excludedInbound = [config.adminPort];
  const init: Obj = {
    name: INIT_CONTAINER,
    image: config.initImage,
    imagePullPolicy: config.imagePullPolicy,
    env: [
      { name: 'MESHCP_CAPTURE_PORT', value: String(config.capturePort) },
      { name: 'MESHCP_INBOUND_PORT', value: String(config.inboundPort) },
      { name: 'MESHCP_PROXY_UID', value: String(config.proxyUid) },
      { name: 'MESHCP_EXCLUDE_INBOUND_PORTS', value: excludedInbound.join(',') },
      // No declared app port, no inbound listener: leave inbound traffic alone rather than redirect it to nothing.
      ...(appPort === undefined ? [{ name: 'MESHCP_CAPTURE_INBOUND', value: 'false' }] : []),
      { name: 'MESHCP_EXCLUDE_OUTBOUND_PORTS', value: xdsPortOf(config) },
    ],
    securityContext: {
      runAsUser: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    },
  };
  const proxy: Obj = {
    name: PROXY_CONTAINER,
    image: config.envoyImage.replace('{version}', version),
    imagePullPolicy: config.imagePullPolicy,
    restartPolicy: 'Always',
    args: [
      ...['-c', '/etc/meshcp/envoy.json', '--service-node', '$(POD_NAME).$(POD_NAMESPACE)', '--disable-hot-restart', '--log-level', 'warn'],
      // Envoy refuses an ADS bootstrap without a node cluster; a pod that
      // names no service still gets one (meshcp reads meshcp.service, empty).
      ...(service === '' ? ['--service-cluster', namespace] : []),
    ],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    ],
    securityContext: {
      runAsUser: config.proxyUid,
      runAsGroup: config.proxyUid,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [{ name: 'meshcp-bootstrap', mountPath: '/etc/meshcp', readOnly: true }, ...(security ? [TOKEN_MOUNT] : [])],
  };
  const volume = {
    name: 'meshcp-bootstrap',
    downwardAPI: {
      items: [{ path: 'envoy.json', fieldRef: { fieldPath: `metadata.annotations['${BOOTSTRAP_ANNOTATION}']` } }, ...(security ? [CA_BUNDLE_ITEM] : [])],
    },
  };

  const patch = annotationPatch(metadata, version, security, { [BOOTSTRAP_ANNOTATION]: JSON.stringify(bootstrap) });
  // The capture rules first, then Envoy: both before the app's own init containers.
  patch.push({ op: initContainers.length > 0 ? 'replace' : 'add', path: '/spec/initContainers', value: [init, proxy, ...initContainers] });
  patch.push(...volumePatch(spec, [volume, ...(security ? [tokenVolume(security)] : [])]));
  return { patch };
}

/**
 * The proxyless gRPC patch: the bootstrap as an env var in every app container
 * (and the CA and token files it points at), nothing else. gRPC checks meshcp's
 * certificate against the host in server_uri, so with secure xDS that is the
 * xDS Service's DNS name (resolved by the cluster DNS), not its cluster IP.
 */
function injectProxylessGrpc(pod: Obj, namespace: string, service: string, config: InjectorConfig): InjectResult {
  const metadata = obj(pod.metadata);
  const spec = obj(pod.spec);
  const containers = arr(spec.containers);
  const security = config.xdsSecurity;
  const bootstrap = grpcBootstrap({
    // $(MESHCP_POD_NAME) is expanded by the kubelet (the env var is defined first in the container).
    nodeId: `$(MESHCP_POD_NAME).${namespace}`,
    service,
    namespace,
    serviceAccount: serviceAccountOf(spec),
    xdsAddress: security ? `${security.serverName}:${xdsPortOf(config)}` : config.xdsAddress,
    ...(security ? { security: bootstrapSecurity(security) } : {}),
  });
  const env = [
    { name: 'MESHCP_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: GRPC_BOOTSTRAP_ENV, value: JSON.stringify(bootstrap) },
    // The token as call credentials (gRFC A97) is still opt-in in grpc-go and grpc-java.
    ...(security ? [{ name: 'GRPC_EXPERIMENTAL_XDS_BOOTSTRAP_CALL_CREDS', value: 'true' }] : []),
  ];
  const mounts = security ? [{ name: 'meshcp-ca', mountPath: '/etc/meshcp', readOnly: true }, TOKEN_MOUNT] : [];
  const patch = annotationPatch(metadata, 'proxyless-grpc', security);
  containers.forEach((container, index) => {
    const ownEnv = arr(container.env).filter((e) => !env.some((added) => added.name === e.name));
    patch.push({ op: container.env === undefined ? 'add' : 'replace', path: `/spec/containers/${index}/env`, value: [...env, ...ownEnv] });
    if (mounts.length === 0) return;
    patch.push({
      op: container.volumeMounts === undefined ? 'add' : 'replace',
      path: `/spec/containers/${index}/volumeMounts`,
      value: [...arr(container.volumeMounts), ...mounts],
    });
  });
  if (security) patch.push(...volumePatch(spec, [{ name: 'meshcp-ca', downwardAPI: { items: [CA_BUNDLE_ITEM] } }, tokenVolume(security)]));
  return { patch };
}
