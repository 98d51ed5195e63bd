/**
 * MeshService (meshcp.io/v1alpha1) and HTTPRoute (gateway.networking.k8s.io/v1)
 * objects read from the API server → projections holding only what meshcp
 * reads (spec, identity, generation, status for the status writer). The
 * objects themselves are validated by translators' parseManifests, exactly as
 * the file source's are.
 */
export type CustomKind = 'MeshService' | 'HTTPRoute' | 'MeshAccessPolicy' | 'ReferenceGrant';

/**
 * The kinds whose status meshcp writes (the others are read only), each with the API
 * path of its objects in a namespace (`NS`): one table, so a kind cannot be written
 * without a path nor given a path it is never written to.
 */
export const STATUS_PATHS = {
  MeshService: 'meshcp.io/v1alpha1/namespaces/NS/meshservices',
  MeshAccessPolicy: 'meshcp.io/v1alpha1/namespaces/NS/meshaccesspolicies',
  HTTPRoute: 'gateway.networking.k8s.io/v1/namespaces/NS/httproutes',
} as const satisfies Partial<Record<CustomKind, string>>;

export function hasStatus(kind: CustomKind): kind is keyof typeof STATUS_PATHS {
  return Object.hasOwn(STATUS_PATHS, kind);
}

export interface CustomObjectView {
  kind: CustomKind;
  uid: string;
  namespace: string;
  name: string;
  generation: number;
  /** The manifest as parseManifests reads it: apiVersion, kind, metadata {name, namespace}, spec. */
  doc: { apiVersion: string; kind: string; metadata: { name: string; namespace: string }; spec: unknown };
  /** The object's current status, for the status writer (lastTransitionTime, no-op detection). */
  status: unknown;
}

export const MESHSERVICE_API_VERSION = 'meshcp.io/v1alpha1';
export const HTTPROUTE_API_VERSION = 'gateway.networking.k8s.io/v1';

export function projectCustom(kind: CustomKind, object: Record<string, unknown>): CustomObjectView {
  const metadata = (object.metadata ?? {}) as { name?: string; namespace?: string; uid?: string; generation?: number };
  const namespace = metadata.namespace ?? 'default';
  const name = metadata.name ?? '';
  return {
    kind,
    uid: metadata.uid ?? `${namespace}/${name}`,
    namespace,
    name,
    generation: metadata.generation ?? 0,
    doc: { apiVersion: String(object.apiVersion), kind, metadata: { name, namespace }, spec: object.spec ?? null },
    status: object.status ?? null,
  };
}
