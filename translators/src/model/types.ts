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
  /** IP address, or a hostname resolved by Envoy (DNS cluster). */
  address: string;
  /** Name for stats and admin output (pod name, VM name), where known. */
  name?: string;
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
  /** Weight localities within a priority by their endpoints' total weight. */
  localityWeighted?: boolean;
}

export interface HealthCheck {
  /** HTTP path probed (HTTP/HTTP2 ports); gRPC ports use the gRPC health protocol. */
  path: string;
  intervalMs: number;
  timeoutMs: number;
  unhealthyThreshold: number;
  healthyThreshold: number;
}

export interface OutlierDetection {
  consecutive5xx: number;
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionPercent: number;
}

export interface CircuitBreakers {
  maxConnections?: number;
  maxPendingRequests?: number;
  maxRequests?: number;
  maxRetries?: number;
}

/** How a service's sidecars take inbound traffic: mTLS only, mTLS or plaintext (the migration path), or plaintext. */
export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export interface MeshService {
  namespace: string;
  name: string;
  /** The service account its workloads run as: their SPIFFE ID is spiffe://<trust domain>/ns/<namespace>/sa/<serviceAccount>. Absent: "default". */
  serviceAccount?: string;
  /** Inbound mTLS of its sidecars, and whether callers must use it. Absent: DISABLE. */
  mtls?: MtlsMode;
  /** Namespaces whose proxies may see it (its own always can). Absent: the whole mesh. */
  exportTo?: string[];
  ports: ServicePort[];
  /**
   * The virtual addresses clients dial for it (a Kubernetes Service's cluster IPs).
   * Absent: none (headless, or not from a Kubernetes Service). A captured sidecar sends a
   * TCP connection to this service only when it was dialled at one of these.
   */
  addresses?: string[];
  endpoints: Endpoint[];
  failover: FailoverPolicy;
  loadBalancing: LoadBalancing;
  connectTimeoutMs: number;
  healthCheck?: HealthCheck;
  outlierDetection?: OutlierDetection;
  circuitBreakers?: CircuitBreakers;
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

export interface HeaderModifier {
  set?: { name: string; value: string }[];
  add?: { name: string; value: string }[];
  remove?: string[];
}

export interface UrlRewrite {
  hostname?: string;
  path?: { type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; value: string };
}

/** Gateway API RequestRedirect: the rule answers a redirect instead of forwarding. */
export interface RequestRedirect {
  scheme?: 'http' | 'https';
  hostname?: string;
  path?: { type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; value: string };
  port?: number;
  statusCode: 301 | 302 | 303 | 307 | 308;
}

export interface RetryPolicy {
  attempts: number;
  /** HTTP status codes that are retried; connection failures and resets always are. */
  codes: number[];
  backoffMs?: number;
}

export interface RouteRule {
  matches: RouteMatch[];
  backends: BackendRef[];
  /** Whole request, including retries (Gateway API timeouts.request). */
  timeoutMs?: number;
  /** Each try (Gateway API timeouts.backendRequest). */
  perTryTimeoutMs?: number;
  retry?: RetryPolicy;
  requestHeaders?: HeaderModifier;
  responseHeaders?: HeaderModifier;
  urlRewrite?: UrlRewrite;
  /** Answers a redirect; such a rule has no backends. */
  redirect?: RequestRedirect;
}

export interface MeshRoute {
  namespace: string;
  name: string;
  parents: { namespace: string; name: string; port?: number }[];
  rules: RouteRule[];
}

/**
 * Who may call a service (kind MeshAccessPolicy): once any policy targets a
 * service, its sidecars admit only requests some rule allows (403 otherwise).
 * Sources are workload identities, so policies need mTLS (STRICT or PERMISSIVE).
 */
export interface MeshAccessPolicy {
  namespace: string;
  name: string;
  /** The MeshService (in the policy's namespace) it guards. */
  target: string;
  rules: AccessRule[];
}

export interface AccessRule {
  /** Callers: any of these matches. Empty: any authenticated workload. */
  from: { namespaces?: string[]; serviceAccounts?: { namespace: string; name: string }[]; spiffeIds?: string[] }[];
  /** Requests: path prefixes and methods; absent: any. */
  to?: { paths?: string[]; methods?: string[] };
}

/**
 * Mesh-wide tracing (kind MeshConfig, or the control plane's --tracing-* flags):
 * every sidecar's HTTP connection managers report OpenTelemetry spans to one
 * collector, with W3C trace context (`traceparent`) propagated.
 */
export interface TracingSettings {
  /** The collector's OTLP/gRPC endpoint: an IP address or a DNS name, and its port. */
  collector: { address: string; port: number };
  /** Share of requests the first sidecar starts a trace for, 0-100; the next sidecars keep that decision (it travels in `x-request-id`). */
  samplingPercent: number;
}

/** Settings that apply to the whole mesh rather than to one service. */
export interface MeshSettings {
  tracing?: TracingSettings;
}

export interface MeshModel {
  /** Keyed by `namespace/name`. */
  services: ReadonlyMap<string, MeshService>;
  routes: readonly MeshRoute[];
  policies?: readonly MeshAccessPolicy[];
  settings?: MeshSettings;
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
  /**
   * 'unresolved': the object is valid but refers to something missing.
   * 'conflict': the object is valid on its own but clashes with another one
   * (defined twice, or claims a TCP port another service holds); the one that
   * was there first keeps serving.
   */
  reason?: 'invalid' | 'unresolved' | 'conflict';
}

/** Longest message an error carries: a bad value is never copied whole into logs, metrics or status. */
export const MAX_ERROR_TEXT = 300;

export function truncateText(text: string, max = MAX_ERROR_TEXT): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

export function formatConfigError(error: ConfigError): string {
  return `${error.source}: ${error.object}: ${error.path}: ${error.message}`;
}
