/**
 * Everything the informers hold → one mesh model, the errors a user can act
 * on, and a report per MeshService / HTTPRoute object for the status writer.
 * Pure: the caller keeps `lastGood` between calls.
 *
 * Rules:
 * - A MeshService object wins over a native Service of the same namespace/name
 *   (it is the explicit registration), whether or not it is valid. One that
 *   lists no endpoints (`spec.endpoints` absent) takes that Service's endpoints
 *   (its EndpointSlices): pod-backed services get meshcp's settings (mTLS,
 *   failover, health checks) and a status in `kubectl get meshservices`.
 *   `endpoints: []` still means none.
 * - "Last good per object" is translators' resolveLastGood, the same code the
 *   file source uses: an object that fails validation keeps serving its last
 *   good generation (keyed by uid, so a deleted-and-recreated object starts
 *   fresh); in a conflict (a TCP port claimed twice) the one serving wins.
 * - HTTPRoute references resolve against MeshServices and native Services alike.
 */
import { type ConfigError, type LastGoodState, type MeshModel, type MeshService, resolveLastGood, type SourceObject, serviceKey } from '@meshcp/translators';
import type { CustomObjectView } from './custom.js';
import { modelPortName, type NodeView, nativeMeshService, type ServiceView, type SliceView } from './native.js';

export const SOURCE_MESHSERVICES = 'kubernetes:meshservices.meshcp.io';
export const SOURCE_HTTPROUTES = 'kubernetes:httproutes.gateway.networking.k8s.io';

export interface AssembleInputs {
  services: readonly ServiceView[];
  slices: readonly SliceView[];
  nodes: readonly NodeView[];
  meshServices: readonly CustomObjectView[];
  httpRoutes: readonly CustomObjectView[];
  /** MeshAccessPolicies and Gateway API ReferenceGrants (absent: none). */
  accessPolicies?: readonly CustomObjectView[];
  referenceGrants?: readonly CustomObjectView[];
}

export interface ObjectReport {
  object: CustomObjectView;
  /** The generation in the served model: the current one, an older good one, or none. */
  servedGeneration?: number;
  /** Errors in the object itself (the current generation), and conflicts with other objects. */
  invalid: ConfigError[];
  /** References that do not resolve (HTTPRoute parents and backends). */
  unresolved: ConfigError[];
  /** MeshService only: endpoints in the served model. */
  endpoints?: number;
}

export interface Assembled {
  model: MeshModel;
  errors: ConfigError[];
  reports: ObjectReport[];
  lastGood: LastGoodState;
}

function sourceOf(object: CustomObjectView): string {
  if (object.kind === 'MeshService') return SOURCE_MESHSERVICES;
  if (object.kind === 'HTTPRoute') return SOURCE_HTTPROUTES;
  return object.kind === 'MeshAccessPolicy' ? 'kubernetes:meshaccesspolicies.meshcp.io' : 'kubernetes:referencegrants.gateway.networking.k8s.io';
}

export function assembleModel(inputs: AssembleInputs, previousLastGood: LastGoodState): Assembled {
  const nodes = new Map(inputs.nodes.map((n) => [n.name, n]));
  const declared = new Set(inputs.meshServices.map((m) => serviceKey(m.namespace, m.name)));
  const native = new Map<string, MeshService>();
  for (const service of inputs.services) {
    const key = serviceKey(service.namespace, service.name);
    if (declared.has(key)) continue;
    const mapped = nativeMeshService(service, inputs.slices, nodes);
    if (mapped) native.set(key, mapped);
  }

  const services = new Map(inputs.services.map((s) => [serviceKey(s.namespace, s.name), s]));
  const meshServices = inputs.meshServices.map((object) => {
    const service = services.get(serviceKey(object.namespace, object.name));
    return service ? withServiceEndpoints(object, service, inputs.slices, nodes) : object;
  });
  const objects = [...meshServices, ...inputs.httpRoutes, ...(inputs.accessPolicies ?? []), ...(inputs.referenceGrants ?? [])].sort((a, b) =>
    a.kind !== b.kind ? a.kind.localeCompare(b.kind) : serviceKey(a.namespace, a.name).localeCompare(serviceKey(b.namespace, b.name)),
  );
  const sourceObjects: SourceObject[] = objects.map((object) => ({
    key: object.uid,
    generation: object.generation,
    manifest: { source: sourceOf(object), doc: object.doc },
  }));
  // Native Services are in the model and resolve references; MeshServices shadow them.
  const resolved = resolveLastGood(sourceObjects, previousLastGood, { services: native });
  const reports: ObjectReport[] = resolved.outcomes.map((outcome, i) => {
    const report: ObjectReport = {
      object: objects[i] as CustomObjectView,
      invalid: [...outcome.invalid, ...outcome.conflicts],
      unresolved: outcome.unresolved,
    };
    if (outcome.served) report.servedGeneration = outcome.served.generation ?? 0;
    return report;
  });
  for (const report of reports) {
    if (report.object.kind !== 'MeshService' || report.servedGeneration === undefined) continue;
    report.endpoints = resolved.model.services.get(serviceKey(report.object.namespace, report.object.name))?.endpoints.length ?? 0;
  }
  const sortedServices = new Map(
    [...resolved.model.services]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, service]) => [key, withClusterAddresses(service, services.get(key))] as const),
  );
  const model = { services: sortedServices, routes: resolved.model.routes, ...(resolved.model.policies ? { policies: resolved.model.policies } : {}) };
  return { model, errors: resolved.errors, reports, lastGood: resolved.state };
}

type Obj = Record<string, unknown>;

/** A MeshService takes the cluster IPs of the Service of its name: they are what clients dial (transparent capture matches on them). */
function withClusterAddresses(service: MeshService, native: ServiceView | undefined): MeshService {
  if (!native || native.addresses.length === 0 || service.addresses) return service;
  return { ...service, addresses: [...native.addresses] };
}

/**
 * The MeshService with its Service's endpoints written into `spec.endpoints`, in
 * the manifest format, when it lists none itself; otherwise unchanged. Each
 * MeshService port takes the Service port with the same number (else the same
 * name) and its target port on every endpoint.
 */
function withServiceEndpoints(
  object: CustomObjectView,
  service: ServiceView,
  slices: readonly SliceView[],
  nodes: ReadonlyMap<string, NodeView>,
): CustomObjectView {
  const spec = object.doc.spec;
  if (!spec || typeof spec !== 'object' || Array.isArray(spec) || 'endpoints' in spec) return object;
  const native = nativeMeshService(service, slices, nodes);
  if (!native) return object;
  const declaredPorts = Array.isArray((spec as Obj).ports) ? ((spec as Obj).ports as unknown[]) : [];
  const portMap: [string, string][] = [];
  declaredPorts.forEach((p, i) => {
    const port = p && typeof p === 'object' ? (p as Obj) : {};
    const name = typeof port.name === 'string' ? port.name : `port-${i}`;
    const match = service.ports.find((sp) => sp.port === port.port) ?? service.ports.find((sp) => sp.name === name);
    if (match) portMap.push([name, modelPortName(match.name, match.port)]);
  });
  const endpoints = native.endpoints.map((e) => {
    const ports: Record<string, number> = {};
    for (const [declared, nativeName] of portMap) {
      const target = e.ports[nativeName];
      if (target !== undefined) ports[declared] = target;
    }
    return { address: e.address, ports, locality: e.locality, health: e.health };
  });
  return { ...object, doc: { ...object.doc, spec: { ...(spec as Obj), endpoints } } };
}
