/**
 * Everything the informers hold → one mesh model, the errors a user can act
 * on, and a report per MeshService / HTTPRoute object for the status writer.
 * Pure: the caller keeps `lastGood` between calls.
 *
 * Rules:
 * - A MeshService object wins over a native Service of the same namespace/name
 *   (it is the explicit registration), whether or not it is valid.
 * - An object that fails validation on its own keeps serving its last good
 *   generation (keyed by uid, so a deleted-and-recreated object starts fresh),
 *   like the file source does.
 * - HTTPRoute references resolve against MeshServices and native Services alike.
 */
import { type ConfigError, type Manifest, type MeshModel, type MeshService, parseManifests, serviceKey } from '@meshcp/translators';
import { type CustomObjectView, MESHSERVICE_API_VERSION, objectId } from './custom.js';
import { type NodeView, nativeMeshService, type ServiceView, type SliceView } from './native.js';

export const SOURCE_SERVICES = 'kubernetes:services';
export const SOURCE_MESHSERVICES = 'kubernetes:meshservices.meshcp.io';
export const SOURCE_HTTPROUTES = 'kubernetes:httproutes.gateway.networking.k8s.io';

export interface AssembleInputs {
  services: readonly ServiceView[];
  slices: readonly SliceView[];
  nodes: readonly NodeView[];
  meshServices: readonly CustomObjectView[];
  httpRoutes: readonly CustomObjectView[];
}

export interface LastGood {
  generation: number;
  doc: CustomObjectView['doc'];
}

export interface ObjectReport {
  object: CustomObjectView;
  /** The generation in the served model: the current one, an older good one, or none. */
  servedGeneration?: number;
  /** Errors in the object itself (the current generation). */
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
  lastGood: Map<string, LastGood>;
}

function sourceOf(object: CustomObjectView): string {
  return object.kind === 'MeshService' ? SOURCE_MESHSERVICES : SOURCE_HTTPROUTES;
}

export function assembleModel(inputs: AssembleInputs, previousLastGood: ReadonlyMap<string, LastGood>): Assembled {
  const nodes = new Map(inputs.nodes.map((n) => [n.name, n]));
  const declared = new Set(inputs.meshServices.map((m) => serviceKey(m.namespace, m.name)));
  const native = new Map<string, MeshService>();
  for (const service of inputs.services) {
    const key = serviceKey(service.namespace, service.name);
    if (declared.has(key)) continue;
    const mapped = nativeMeshService(service, inputs.slices, nodes);
    if (mapped) native.set(key, mapped);
  }

  const lastGood = new Map<string, LastGood>();
  const reports: ObjectReport[] = [];
  const errors: ConfigError[] = [];
  const manifests: Manifest[] = [];
  // Native Services take part in reference resolution as port-only stubs.
  for (const service of native.values()) {
    manifests.push({
      source: SOURCE_SERVICES,
      doc: {
        apiVersion: MESHSERVICE_API_VERSION,
        kind: 'MeshService',
        metadata: { name: service.name, namespace: service.namespace },
        spec: { ports: service.ports },
      },
    });
  }
  const objects = [...inputs.meshServices, ...inputs.httpRoutes].sort((a, b) =>
    a.kind !== b.kind ? a.kind.localeCompare(b.kind) : serviceKey(a.namespace, a.name).localeCompare(serviceKey(b.namespace, b.name)),
  );
  for (const object of objects) {
    const source = sourceOf(object);
    const invalid = parseManifests([{ source, doc: object.doc }]).errors.filter((e) => e.reason !== 'unresolved');
    const report: ObjectReport = { object, invalid, unresolved: [] };
    reports.push(report);
    errors.push(...invalid);
    let served: LastGood | undefined;
    if (invalid.length === 0) served = { generation: object.generation, doc: object.doc };
    else served = previousLastGood.get(object.uid);
    if (!served) continue;
    lastGood.set(object.uid, served);
    report.servedGeneration = served.generation;
    manifests.push({ source, doc: served.doc });
  }

  const parsed = parseManifests(manifests);
  const byObject = new Map(reports.map((r) => [objectId(r.object.kind, r.object.namespace, r.object.name), r]));
  for (const error of parsed.errors) {
    if (error.source === SOURCE_SERVICES) continue; // stubs carry only valid ports
    errors.push(error);
    const report = byObject.get(error.object);
    if (!report) continue;
    if (error.reason === 'unresolved') report.unresolved.push(error);
    else report.invalid.push(error);
  }
  for (const report of reports) {
    // An HTTPRoute whose references do not resolve is not in the served model.
    if (report.unresolved.length > 0) delete report.servedGeneration;
  }

  const services = new Map<string, MeshService>(native);
  for (const [key, service] of parsed.model.services) if (declared.has(key)) services.set(key, service);
  for (const report of reports) {
    if (report.object.kind !== 'MeshService' || report.servedGeneration === undefined) continue;
    report.endpoints = services.get(serviceKey(report.object.namespace, report.object.name))?.endpoints.length ?? 0;
  }
  const sortedServices = new Map([...services].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { model: { services: sortedServices, routes: parsed.model.routes }, errors, reports, lastGood };
}
