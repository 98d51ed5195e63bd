/**
 * What a proxy may see: a MeshService with `exportTo` is visible only to callers in
 * those namespaces (as Istio's exportTo); without it, to the whole mesh. A caller
 * gets no cluster, virtual host, listener or endpoint of a service it cannot see,
 * and a route's backends it cannot see take no traffic (all of them: the route
 * answers 500, like a rule whose backends all weigh 0).
 */
import type { MeshModel, MeshService } from './model/types.js';

export function visibleTo(service: MeshService, callerNamespace: string): boolean {
  return !service.exportTo || service.namespace === callerNamespace || service.exportTo.includes(callerNamespace);
}

/** The model as a caller in `callerNamespace` sees it; the model itself when nothing is restricted. */
export function visibleModel(model: MeshModel, callerNamespace: string): MeshModel {
  let restricted = false;
  for (const service of model.services.values()) if (service.exportTo && !visibleTo(service, callerNamespace)) restricted = true;
  if (!restricted) return model;
  const services = new Map([...model.services].filter(([, service]) => visibleTo(service, callerNamespace)));
  const seen = (namespace: string, name: string) => services.has(`${namespace}/${name}`);
  const routes = model.routes
    .filter((route) => route.parents.some((parent) => seen(parent.namespace, parent.name)))
    .map((route) => ({
      ...route,
      rules: route.rules.map((rule) => ({
        ...rule,
        backends: rule.backends.map((backend) => (seen(backend.namespace, backend.name) ? backend : { ...backend, weight: 0 })),
      })),
    }));
  return { ...model, services, routes };
}
