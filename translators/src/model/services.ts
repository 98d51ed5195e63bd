/**
 * How translators read the model's services: in key order (`namespace/name`), so the
 * output is the same whatever order the source listed them in, and with the defaults
 * of the fields a service may leave out.
 */
import { DEFAULTS } from './defaults.js';
import type { MeshModel, MeshService, MtlsMode } from './types.js';

/**
 * Service keys in sorted order, remembered per services map. A source hands a new
 * map for every change, nearly always with the same keys (an endpoint moved): then
 * the last order is reused after a membership check (O(n)) instead of a sort.
 */
const sortedKeysByMap = new WeakMap<ReadonlyMap<string, MeshService>, readonly string[]>();
let lastSorted: { services: ReadonlyMap<string, MeshService>; keys: readonly string[] } | undefined;

function sortedServiceKeys(services: ReadonlyMap<string, MeshService>): readonly string[] {
  let keys = sortedKeysByMap.get(services);
  if (keys) return keys;
  const last = lastSorted;
  if (last && last.services.size === services.size && last.keys.every((key) => services.has(key))) keys = last.keys;
  else keys = [...services.keys()].sort();
  sortedKeysByMap.set(services, keys);
  lastSorted = { services, keys };
  return keys;
}

/** The model's services, ordered by key. */
export function sortedServices(model: MeshModel): MeshService[] {
  return sortedServiceKeys(model.services).map((key) => model.services.get(key) as MeshService);
}

/** A service's mesh mTLS mode (spec.mtls.mode); a service nobody names has the default. */
export function mtlsModeOf(service: MeshService | undefined): MtlsMode {
  return service?.mtls ?? DEFAULTS.mtlsMode;
}
