/** The mesh model: the one contract between sources (file, Kubernetes) and translators. */

export type Protocol = 'HTTP' | 'HTTP2' | 'GRPC' | 'TCP';
export type LoadBalancing = 'RoundRobin' | 'LeastRequest' | 'RingHash' | 'Maglev' | 'Random';
export type EndpointHealth = 'Healthy' | 'Unhealthy' | 'Draining';
export type LocalityLabel = 'region' | 'zone' | 'subZone';

export interface Locality {
  region?: string;
  zone?: string;
  subZone?: string;
}

export interface ServicePort {
  name: string;
  port: number;
  protocol: Protocol;
}

export interface Endpoint {
  address: string;
  /** Port on the endpoint, per service port name. */
  ports: Record<string, number>;
  locality: Locality;
  weight?: number;
  health: EndpointHealth;
  /** Explicit failover tier; overrides locality-derived priority. */
  priority?: number;
}

export interface FailoverPolicy {
  /** Most specific first, e.g. ['zone', 'region']: same zone → P0, same region → P1, rest → P2. */
  localityPriority: LocalityLabel[];
  overprovisioningFactor?: number;
}

export interface MeshService {
  namespace: string;
  name: string;
  ports: ServicePort[];
  endpoints: Endpoint[];
  failover: FailoverPolicy;
  loadBalancing: LoadBalancing;
  connectTimeoutMs: number;
}

export type PathMatchType = 'PathPrefix' | 'Exact' | 'RegularExpression';

export interface RouteMatch {
  path?: { type: PathMatchType; value: string };
  headers?: { type: 'Exact' | 'RegularExpression'; name: string; value: string }[];
  method?: string;
  queryParams?: { type: 'Exact' | 'RegularExpression'; name: string; value: string }[];
}

export interface BackendRef {
  namespace: string;
  name: string;
  port: number;
  weight: number;
}

export interface RouteRule {
  matches: RouteMatch[];
  backends: BackendRef[];
  timeoutMs?: number;
}

export interface MeshRoute {
  namespace: string;
  name: string;
  parents: { namespace: string; name: string; port?: number }[];
  rules: RouteRule[];
}

export interface MeshModel {
  /** Keyed by `namespace/name`. */
  services: ReadonlyMap<string, MeshService>;
  routes: readonly MeshRoute[];
}

export function serviceKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function emptyModel(): MeshModel {
  return { services: new Map(), routes: [] };
}

/** An error a user can act on: which file or object, which field, what is wrong. */
export interface ConfigError {
  source: string;
  object: string;
  path: string;
  message: string;
  /** 'unresolved': the object is valid but refers to something missing. */
  reason?: 'invalid' | 'unresolved';
}

export function formatConfigError(error: ConfigError): string {
  return `${error.source}: ${error.object}: ${error.path}: ${error.message}`;
}
