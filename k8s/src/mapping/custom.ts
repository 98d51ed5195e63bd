/**
 * MeshService (meshcp.io/v1alpha1) and HTTPRoute (gateway.networking.k8s.io/v1)
 * objects read from the API server → projections holding only what meshcp
 * reads (spec, identity, generation, status for the status writer). The
 * objects themselves are validated by translators' parseManifests, exactly as
 * the file source's are.
 */
export type CustomKind = 'MeshService' | 'HTTPRoute' | 'MeshAccessPolicy' | 'ReferenceGrant';

/** Kinds whose status meshcp writes (the others are read only). */
export function hasStatus(kind: CustomKind): kind is 'MeshService' | 'HTTPRoute' | 'MeshAccessPolicy' {
  return kind === 'MeshService' || kind === 'HTTPRoute' || kind === 'MeshAccessPolicy';
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
