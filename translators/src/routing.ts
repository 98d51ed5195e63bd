/**
 * Which routes a caller sees for a service, per Gateway API's mesh rules
 * (GEP-1294, "xRoutes Mesh Binding"): a route in the service's own namespace is a
 * *producer* route and applies to every caller; a route in another namespace is a
 * *consumer* route and applies only to callers in that route's namespace, where it
 * takes the producer routes' place. A route in a third namespace changes nothing
 * for anyone else — so no namespace can redirect another's traffic.
 */
import { type MeshModel, type MeshRoute, type MeshService, serviceKey } from './model/types.js';

/**
 * Routes per parent Service (`namespace/name`), each list in a stable order
 * (namespace/name) so output does not depend on input order. Built once per
 * translation: scanning every route for every service is quadratic at 10k services.
 */
export function routesByParent(model: MeshModel): Map<string, MeshRoute[]> {
  const sorted = [...model.routes].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  const byParent = new Map<string, MeshRoute[]>();
  for (const route of sorted) {
    for (const key of new Set(route.parents.map((p) => serviceKey(p.namespace, p.name)))) {
      const list = byParent.get(key) ?? [];
      list.push(route);
      byParent.set(key, list);
    }
  }
  return byParent;
}

/** The routes a caller in `callerNamespace` gets for `service`: its namespace's consumer routes if any, else the producer routes. */
export function routesForCaller(byParent: ReadonlyMap<string, readonly MeshRoute[]>, service: MeshService, callerNamespace: string): MeshRoute[] {
  const attached = byParent.get(serviceKey(service.namespace, service.name)) ?? [];
  if (callerNamespace !== service.namespace) {
    const consumer = attached.filter((route) => route.namespace === callerNamespace);
    if (consumer.length > 0) return consumer;
  }
  return attached.filter((route) => route.namespace === service.namespace);
}
