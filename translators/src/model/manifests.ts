/**
 * Turns MeshService and HTTPRoute manifests (the file format of DESIGN.md §3, and
 * the CRD specs) into the mesh model. Each object is validated on its own: a bad
 * one is reported with its field path and left out, the others still count.
 */
import { isIP } from 'node:net';
import { DEFAULTS } from './defaults.js';
import { re2AsJavaScript, re2Problem } from './re2.js';
import {
  type AccessRule,
  type BackendRef,
  type CircuitBreakers,
  type ConfigError,
  type Endpoint,
  type EndpointHealth,
  type HeaderModifier,
  type HealthCheck,
  type LoadBalancing,
  type Locality,
  type LocalityLabel,
  type MeshAccessPolicy,
  type MeshModel,
  type MeshRoute,
  type MeshService,
  type MeshSettings,
  type MtlsMode,
  type OutlierDetection,
  type Protocol,
  type RequestRedirect,
  type RouteMatch,
  type RouteRule,
  type ServicePort,
  serviceKey,
  truncateText,
  type UrlRewrite,
} from './types.js';

export interface Manifest {
  /** Where the object came from: a file path, or `kubernetes:<resource>`. */
  source: string;
  doc: unknown;
  /** 1-based position of the document in a multi-document file, where that matters. */
  document?: number;
  /** 1-based line where the document starts in its file, where known. */
  line?: number;
}

/**
 * How an error names an object whose kind or name could not be read: `document 2
 * (line 14)`, so a user can find it in a multi-document file.
 */
function unnamedObject(manifest: Pick<Manifest, 'document' | 'line'>): string {
  const where = manifest.document === undefined ? 'document' : `document ${manifest.document}`;
  return manifest.line === undefined ? where : `${where} (line ${manifest.line})`;
}

/** Whether an error's object is a document meshcp could not identify (no readable kind, apiVersion, name or namespace). */
export function isUnidentifiedDocument(error: Pick<ConfigError, 'object'>): boolean {
  return /^document( \d+)?( \(line \d+\))?$/.test(error.object);
}

/** `file (document 2)`: enough for a user to find the object. */
export function manifestLocation(manifest: Pick<Manifest, 'source' | 'document'>): string {
  return manifest.document === undefined ? manifest.source : `${manifest.source} (document ${manifest.document})`;
}

export interface ParsedManifests {
  model: MeshModel;
  errors: ConfigError[];
  /** Objects accepted, as `Kind namespace/name`, for status reporting. */
  accepted: string[];
}

type Obj = Record<string, unknown>;
const PROTOCOLS: readonly Protocol[] = ['HTTP', 'HTTP2', 'GRPC', 'TCP'];
const LOAD_BALANCING: readonly LoadBalancing[] = ['RoundRobin', 'LeastRequest', 'RingHash', 'Maglev', 'Random'];
const MTLS_MODES: readonly MtlsMode[] = ['STRICT', 'PERMISSIVE', 'DISABLE'];
const HEALTH: readonly EndpointHealth[] = ['Healthy', 'Unhealthy', 'Draining'];
const LOCALITY_LABELS: readonly LocalityLabel[] = ['region', 'zone', 'subZone'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_|~`]+$/;
/**
 * The longest duration any field accepts: 99999h, the largest single-unit value a
 * Gateway API Duration (GEP-2257: at most 5 digits per unit) can spell. Far inside
 * what Envoy turns into milliseconds (protobuf Duration's 315,576,000,000 s, and
 * Envoy's own int64-nanosecond ceiling of 9,223,372,036 s for timeouts and intervals).
 */
export const MAX_DURATION_MS = 99_999 * 3_600_000;
/** Envoy refuses weighted clusters whose weights add up to more than a uint32. */
export const MAX_WEIGHT_SUM = 4_294_967_295;
/** Gateway API's limit (maxItems) on an HTTPRoute rule's backendRefs. */
export const MAX_BACKEND_REFS = 16;
/** Envoy's limits (PGV max_bytes) on a header name or value it adds, and on a query parameter name it matches. */
const MAX_HEADER_VALUE_BYTES = 16_384;
const MAX_HEADER_NAME_BYTES = 16_384;
const MAX_QUERY_PARAM_NAME_BYTES = 1024;

class ObjectErrors extends Error {}

/** Collects field errors for one object; `fail` aborts the object. */
class FieldReader {
  readonly errors: ConfigError[] = [];
  constructor(
    readonly source: string,
    public object: string,
  ) {}

  error(path: string, message: string): void {
    this.errors.push({ source: this.source, object: this.object, path, message: truncateText(message) });
  }

  fail(path: string, message: string): never {
    this.error(path, message);
    throw new ObjectErrors();
  }

  obj(value: unknown, path: string): Obj {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(path, `must be an object, got ${describe(value)}`);
    return value as Obj;
  }

  optObj(value: unknown, path: string): Obj | undefined {
    return value === undefined || value === null ? undefined : this.obj(value, path);
  }

  list(value: unknown, path: string): unknown[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) this.fail(path, `must be a list, got ${describe(value)}`);
    return value;
  }

  str(value: unknown, path: string): string {
    if (typeof value !== 'string' || value === '') this.fail(path, `must be a non-empty string, got ${describe(value)}`);
    return value;
  }

  optStr(value: unknown, path: string): string | undefined {
    return value === undefined || value === null ? undefined : this.str(value, path);
  }

  int(value: unknown, path: string, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.fail(path, `must be ${min}-${max}, got ${describe(value)}`);
    }
    return value;
  }

  optInt(value: unknown, path: string, min: number, max: number): number | undefined {
    return value === undefined || value === null ? undefined : this.int(value, path, min, max);
  }

  oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[], fallback?: T): T {
    if ((value === undefined || value === null) && fallback !== undefined) return fallback;
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.fail(path, `must be one of ${allowed.join(', ')}, got ${describe(value)}`);
    }
    return value as T;
  }

  /** A Gateway API style duration ("250ms", "5s", "1m"), or `fallback` when absent. */
  durationMs(value: unknown, path: string, fallback: number): number;
  durationMs(value: unknown, path: string, fallback?: number): number | undefined;
  durationMs(value: unknown, path: string, fallback?: number): number | undefined {
    if (value === undefined || value === null) return fallback;
    const ms = typeof value === 'string' ? parseDurationMs(value) : undefined;
    if (ms === undefined || ms <= 0) this.fail(path, `must be a duration like "1s" or "250ms", got ${describe(value)}`);
    // Reported without aborting the object: its other errors are worth seeing too (the object is left out either way).
    if (ms > MAX_DURATION_MS) this.error(path, `must be at most 99999h, got ${describe(value)}`);
    return ms;
  }

  dnsLabel(value: unknown, path: string): string {
    const s = this.str(value, path);
    if (!DNS_LABEL.test(s)) this.fail(path, `must be a DNS label (lower-case letters, digits, '-'), got ${describe(s)}`);
    return s;
  }
}

/**
 * A short description of a bad value for an error message. Bounded whatever the
 * input: a 50 MiB string or a huge object is never copied into the error text.
 */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return value.length > 80 ? `${JSON.stringify(value.slice(0, 80))}… (${value.length} characters)` : JSON.stringify(value);
  if (Array.isArray(value)) return `a list of ${value.length} items`;
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}

/** Durations as Gateway API writes them: "500ms", "10s", "1m". */
export function parseDurationMs(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (!match) return undefined;
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(match[1]) * scale);
}

function readMeta(r: FieldReader, doc: Obj, kind: string): { namespace: string; name: string } {
  const metadata = r.obj(doc.metadata, 'metadata');
  const name = r.dnsLabel(metadata.name, 'metadata.name');
  const namespace = metadata.namespace === undefined ? 'default' : r.dnsLabel(metadata.namespace, 'metadata.namespace');
  r.object = `${kind} ${namespace}/${name}`;
  return { namespace, name };
}

function readLocality(r: FieldReader, value: unknown, path: string): Locality {
  const o = r.optObj(value, path) ?? {};
  const locality: Locality = {};
  const region = r.optStr(o.region, `${path}.region`);
  const zone = r.optStr(o.zone, `${path}.zone`);
  const subZone = r.optStr(o.subZone, `${path}.subZone`);
  if (region) locality.region = region;
  if (zone) locality.zone = zone;
  if (subZone) locality.subZone = subZone;
  return locality;
}

export function readMeshService(r: FieldReader, doc: Obj): MeshService {
  const { namespace, name } = readMeta(r, doc, 'MeshService');
  const spec = r.obj(doc.spec, 'spec');
  const ports: ServicePort[] = r.list(spec.ports, 'spec.ports').map((p, i) => {
    const path = `spec.ports[${i}]`;
    const o = r.obj(p, path);
    return {
      name: o.name === undefined ? `port-${i}` : r.dnsLabel(o.name, `${path}.name`),
      port: r.int(o.port, `${path}.port`, 1, 65535),
      protocol: r.oneOf(o.protocol, `${path}.protocol`, PROTOCOLS, DEFAULTS.portProtocol),
    };
  });
  if (ports.length === 0) r.error('spec.ports', 'must list at least one port');
  const seen = new Set<string>();
  ports.forEach((p, i) => {
    if (seen.has(p.name) || seen.has(String(p.port))) r.error(`spec.ports[${i}]`, `duplicate port ${p.name}/${p.port}`);
    seen.add(p.name).add(String(p.port));
  });
  const endpoints: Endpoint[] = r.list(spec.endpoints, 'spec.endpoints').map((e, i) => {
    const path = `spec.endpoints[${i}]`;
    const o = r.obj(e, path);
    const address = r.str(o.address, `${path}.address`);
    if (isIP(address) === 0 && !HOSTNAME.test(address)) r.error(`${path}.address`, `must be an IP address or hostname, got ${describe(address)}`);
    const endpointPorts: Record<string, number> = {};
    if (o.ports !== undefined) {
      const byName = r.obj(o.ports, `${path}.ports`);
      for (const [portName, value] of Object.entries(byName)) {
        if (!ports.some((p) => p.name === portName)) r.error(`${path}.ports.${portName}`, `no service port named ${portName}`);
        endpointPorts[portName] = r.int(value, `${path}.ports.${portName}`, 1, 65535);
      }
    }
    const single = r.optInt(o.port, `${path}.port`, 1, 65535);
    for (const p of ports) endpointPorts[p.name] ??= single ?? p.port;
    const endpoint: Endpoint = {
      address,
      ports: endpointPorts,
      locality: readLocality(r, o.locality, `${path}.locality`),
      health: r.oneOf(o.health, `${path}.health`, HEALTH, DEFAULTS.endpointHealth),
    };
    const endpointName = r.optStr(o.name, `${path}.name`);
    if (endpointName !== undefined) endpoint.name = endpointName;
    const weight = r.optInt(o.weight, `${path}.weight`, 1, 128);
    if (weight !== undefined) endpoint.weight = weight;
    const priority = r.optInt(o.priority, `${path}.priority`, 0, 16);
    if (priority !== undefined) endpoint.priority = priority;
    return endpoint;
  });
  const failoverSpec = r.optObj(spec.failover, 'spec.failover') ?? {};
  const localityPriority = r
    .list(failoverSpec.localityPriority ?? [...DEFAULTS.localityPriority], 'spec.failover.localityPriority')
    .map((l, i) => r.oneOf(l, `spec.failover.localityPriority[${i}]`, LOCALITY_LABELS));
  const overprovisioningFactor = r.optInt(failoverSpec.overprovisioningFactor, 'spec.failover.overprovisioningFactor', 100, 1000);
  const failover: MeshService['failover'] = { localityPriority };
  if (overprovisioningFactor !== undefined) failover.overprovisioningFactor = overprovisioningFactor;
  if (failoverSpec.localityWeighted !== undefined) {
    if (typeof failoverSpec.localityWeighted !== 'boolean')
      r.fail('spec.failover.localityWeighted', `must be true or false, got ${describe(failoverSpec.localityWeighted)}`);
    failover.localityWeighted = failoverSpec.localityWeighted;
  }
  const service: MeshService = {
    namespace,
    name,
    ports,
    endpoints,
    failover,
    loadBalancing: r.oneOf(spec.loadBalancing, 'spec.loadBalancing', LOAD_BALANCING, DEFAULTS.loadBalancing),
    connectTimeoutMs: r.durationMs(spec.connectTimeout, 'spec.connectTimeout', DEFAULTS.connectTimeoutMs),
  };
  const serviceAccount = r.optStr(spec.serviceAccount, 'spec.serviceAccount');
  if (serviceAccount !== undefined) {
    if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(serviceAccount))
      r.error('spec.serviceAccount', `must be a Kubernetes name, got ${describe(serviceAccount)}`);
    else if (serviceAccount !== DEFAULTS.serviceAccount) service.serviceAccount = serviceAccount;
  }
  if (spec.exportTo !== undefined) {
    const targets = r.list(spec.exportTo, 'spec.exportTo').map((t, i) => (t === '.' || t === '*' ? t : r.dnsLabel(t, `spec.exportTo[${i}]`)));
    // '*' is the default (mesh-wide); '.' is the service's own namespace.
    if (!targets.includes('*')) service.exportTo = [...new Set(targets.map((t) => (t === '.' ? namespace : t)))];
  }
  const mtls = r.optObj(spec.mtls, 'spec.mtls');
  if (mtls) {
    const mode = r.oneOf(mtls.mode, 'spec.mtls.mode', MTLS_MODES, DEFAULTS.mtlsMode);
    if (mode !== DEFAULTS.mtlsMode) service.mtls = mode;
  }
  const healthCheck = readHealthCheck(r, spec.healthCheck);
  if (healthCheck) service.healthCheck = healthCheck;
  const outlier = readOutlierDetection(r, spec.outlierDetection);
  if (outlier) service.outlierDetection = outlier;
  const breakers = readCircuitBreakers(r, spec.circuitBreakers);
  if (breakers) service.circuitBreakers = breakers;
  return service;
}

function readHealthCheck(r: FieldReader, value: unknown): HealthCheck | undefined {
  const o = r.optObj(value, 'spec.healthCheck');
  if (!o) return undefined;
  const d = DEFAULTS.healthCheck;
  const path = r.optStr(o.path, 'spec.healthCheck.path') ?? d.path;
  if (!path.startsWith('/')) r.error('spec.healthCheck.path', `must start with "/", got ${describe(path)}`);
  return {
    path,
    intervalMs: r.durationMs(o.interval, 'spec.healthCheck.interval', d.intervalMs),
    timeoutMs: r.durationMs(o.timeout, 'spec.healthCheck.timeout', d.timeoutMs),
    unhealthyThreshold: r.optInt(o.unhealthyThreshold, 'spec.healthCheck.unhealthyThreshold', 1, 100) ?? d.unhealthyThreshold,
    healthyThreshold: r.optInt(o.healthyThreshold, 'spec.healthCheck.healthyThreshold', 1, 100) ?? d.healthyThreshold,
  };
}

function readOutlierDetection(r: FieldReader, value: unknown): OutlierDetection | undefined {
  const o = r.optObj(value, 'spec.outlierDetection');
  if (!o) return undefined;
  const d = DEFAULTS.outlierDetection;
  return {
    consecutive5xx: r.optInt(o.consecutive5xx, 'spec.outlierDetection.consecutive5xx', 1, 1000) ?? d.consecutive5xx,
    intervalMs: r.durationMs(o.interval, 'spec.outlierDetection.interval', d.intervalMs),
    baseEjectionTimeMs: r.durationMs(o.baseEjectionTime, 'spec.outlierDetection.baseEjectionTime', d.baseEjectionTimeMs),
    maxEjectionPercent: r.optInt(o.maxEjectionPercent, 'spec.outlierDetection.maxEjectionPercent', 0, 100) ?? d.maxEjectionPercent,
  };
}

function readCircuitBreakers(r: FieldReader, value: unknown): CircuitBreakers | undefined {
  const o = r.optObj(value, 'spec.circuitBreakers');
  if (!o) return undefined;
  const breakers: CircuitBreakers = {};
  for (const key of ['maxConnections', 'maxPendingRequests', 'maxRequests', 'maxRetries'] as const) {
    const n = r.optInt(o[key], `spec.circuitBreakers.${key}`, 0, 4_294_967_295);
    if (n !== undefined) breakers[key] = n;
  }
  return breakers;
}

/**
 * Envoy compiles regexes with RE2, which has no lookaround or backreferences; a
 * pattern JavaScript accepts but RE2 rejects would be NACKed, so it is refused here.
 */
export function re2Incompatibility(pattern: string): string | undefined {
  // Escapes read pairwise from the left, so `\\1` is an escaped backslash and a 1, and `\(?=` a literal paren.
  for (const [escaped] of pattern.matchAll(/\\[\s\S]/g)) {
    if (/^\\[1-9]$/.test(escaped)) return 'backreferences are not supported by RE2';
    if (escaped === '\\k') return 'named backreferences are not supported by RE2';
  }
  const syntax = pattern.replace(/\\[\s\S]/g, '_');
  if (/\(\?<?[=!]/.test(syntax)) return 'lookahead and lookbehind are not supported by RE2';
  if (/\(\?<[A-Za-z]/.test(syntax)) return '(?<name>…) groups are not supported by the RE2 in every Envoy meshcp serves; use (?P<name>…)';
  if (/[*+?}]\+/.test(syntax)) return 'possessive quantifiers are not supported by RE2';
  return undefined;
}

/**
 * A header a Request/ResponseHeaderModifier may name. Envoy's header parser (shared by
 * request and response headers, for adding and removing alike) refuses pseudo-headers
 * (`:path`, `:status`…) and Host, NACKing the whole RouteConfiguration: refuse them here.
 */
function checkModifiableHeader(r: FieldReader, name: string, path: string, verb: 'set' | 'added' | 'removed'): void {
  if (name.startsWith(':')) r.error(path, `pseudo-header ${describe(name)} cannot be ${verb} by a header modifier (Envoy refuses it)`);
  else if (name.toLowerCase() === 'host')
    r.error(path, `the Host header cannot be ${verb} by a header modifier (Envoy refuses it); use a URLRewrite filter's hostname to change it`);
  else if (!HEADER_NAME.test(name)) r.error(path, `is not a valid header name: ${describe(name)}`);
  else if (name.length > MAX_HEADER_NAME_BYTES) r.error(path, `must be at most ${MAX_HEADER_NAME_BYTES} bytes, got ${name.length}`);
}

function readHeaderModifier(r: FieldReader, value: unknown, path: string): HeaderModifier {
  const o = r.obj(value, path);
  const pairs = (list: unknown, listPath: string, verb: 'set' | 'added') =>
    r.list(list, listPath).map((item, i) => {
      const itemPath = `${listPath}[${i}]`;
      const io = r.obj(item, itemPath);
      const name = r.str(io.name, `${itemPath}.name`);
      checkModifiableHeader(r, name, `${itemPath}.name`, verb);
      const headerValue = typeof io.value === 'string' ? io.value : r.fail(`${itemPath}.value`, `must be a string, got ${describe(io.value)}`);
      if (/[\0\r\n]/.test(headerValue)) r.error(`${itemPath}.value`, 'must not contain NUL, CR or LF');
      if (Buffer.byteLength(headerValue) > MAX_HEADER_VALUE_BYTES) r.error(`${itemPath}.value`, `must be at most ${MAX_HEADER_VALUE_BYTES} bytes`);
      return { name, value: headerValue };
    });
  const modifier: HeaderModifier = {};
  if (o.set !== undefined) modifier.set = pairs(o.set, `${path}.set`, 'set');
  if (o.add !== undefined) modifier.add = pairs(o.add, `${path}.add`, 'added');
  if (o.remove !== undefined)
    modifier.remove = r.list(o.remove, `${path}.remove`).map((n, i) => {
      const name = r.str(n, `${path}.remove[${i}]`);
      checkModifiableHeader(r, name, `${path}.remove[${i}]`, 'removed');
      return name;
    });
  return modifier;
}

function readUrlRewrite(r: FieldReader, value: unknown, path: string): UrlRewrite {
  const o = r.obj(value, path);
  const rewrite: UrlRewrite = {};
  const hostname = r.optStr(o.hostname, `${path}.hostname`);
  if (hostname !== undefined) {
    if (!HOSTNAME.test(hostname)) r.error(`${path}.hostname`, `must be a hostname, got ${describe(hostname)}`);
    rewrite.hostname = hostname;
  }
  const p = r.optObj(o.path, `${path}.path`);
  if (p) {
    const type = r.oneOf(p.type, `${path}.path.type`, ['ReplaceFullPath', 'ReplacePrefixMatch'] as const);
    const key = type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
    const replacement = r.str(p[key], `${path}.path.${key}`);
    if (!replacement.startsWith('/')) r.error(`${path}.path.${key}`, `must start with "/", got ${describe(replacement)}`);
    // Envoy's prefix_rewrite and path_redirect refuse these (PGV HTTP_HEADER_VALUE), NACKing the RouteConfiguration.
    else if (/[\0\r\n]/.test(replacement)) r.error(`${path}.path.${key}`, 'must not contain NUL, CR or LF');
    rewrite.path = { type, value: replacement };
  }
  return rewrite;
}

function readRedirect(r: FieldReader, value: unknown, path: string): RequestRedirect {
  const o = r.obj(value, path);
  const statusCode = r.optInt(o.statusCode, `${path}.statusCode`, 301, 308) ?? 302;
  if (![301, 302, 303, 307, 308].includes(statusCode)) r.error(`${path}.statusCode`, `must be 301, 302, 303, 307 or 308, got ${statusCode}`);
  const redirect: RequestRedirect = { statusCode: statusCode as RequestRedirect['statusCode'] };
  if (o.scheme !== undefined) redirect.scheme = r.oneOf(o.scheme, `${path}.scheme`, ['http', 'https'] as const);
  const hostname = r.optStr(o.hostname, `${path}.hostname`);
  if (hostname !== undefined) {
    if (!HOSTNAME.test(hostname)) r.error(`${path}.hostname`, `must be a hostname, got ${describe(hostname)}`);
    redirect.hostname = hostname;
  }
  const port = r.optInt(o.port, `${path}.port`, 1, 65535);
  if (port !== undefined) redirect.port = port;
  // The path forms are URLRewrite's (same fields, same checks).
  const rewrite = o.path === undefined ? undefined : readUrlRewrite(r, { path: o.path }, path).path;
  if (rewrite) redirect.path = rewrite;
  return redirect;
}

function readFilters(r: FieldReader, value: unknown, path: string, rule: RouteRule): void {
  for (const [i, filter] of r.list(value, path).entries()) {
    const fp = `${path}[${i}]`;
    const o = r.obj(filter, fp);
    const type = r.oneOf(o.type, `${fp}.type`, ['RequestHeaderModifier', 'ResponseHeaderModifier', 'URLRewrite', 'RequestRedirect'] as const);
    if (type === 'RequestHeaderModifier') rule.requestHeaders = readHeaderModifier(r, o.requestHeaderModifier, `${fp}.requestHeaderModifier`);
    else if (type === 'ResponseHeaderModifier') rule.responseHeaders = readHeaderModifier(r, o.responseHeaderModifier, `${fp}.responseHeaderModifier`);
    else if (type === 'RequestRedirect') {
      if (rule.redirect) r.error(`${fp}.type`, 'at most one RequestRedirect filter per rule');
      rule.redirect = readRedirect(r, o.requestRedirect, `${fp}.requestRedirect`);
    } else {
      if (rule.urlRewrite) r.error(`${fp}.type`, 'at most one URLRewrite filter per rule');
      rule.urlRewrite = readUrlRewrite(r, o.urlRewrite, `${fp}.urlRewrite`);
    }
  }
}

function readMatch(r: FieldReader, value: unknown, path: string): RouteMatch {
  const o = r.obj(value, path);
  const match: RouteMatch = {};
  if (o.path !== undefined) {
    const p = r.obj(o.path, `${path}.path`);
    const type = r.oneOf(p.type, `${path}.path.type`, ['PathPrefix', 'Exact', 'RegularExpression'] as const, 'PathPrefix');
    const pathValue = r.str(p.value ?? '/', `${path}.path.value`);
    if (type !== 'RegularExpression' && !pathValue.startsWith('/')) r.error(`${path}.path.value`, `must start with "/", got ${describe(pathValue)}`);
    if (type === 'RegularExpression') checkRegex(r, pathValue, `${path}.path.value`);
    match.path = { type, value: pathValue };
  }
  const readKeyed = (list: unknown, listPath: string) =>
    r.list(list, listPath).map((h, i) => {
      const hp = `${listPath}[${i}]`;
      const ho = r.obj(h, hp);
      const type = r.oneOf(ho.type, `${hp}.type`, ['Exact', 'RegularExpression'] as const, 'Exact');
      const name = r.str(ho.name, `${hp}.name`);
      const headerValue = r.str(ho.value, `${hp}.value`);
      if (type === 'RegularExpression') checkRegex(r, headerValue, `${hp}.value`);
      return { type, name, value: headerValue };
    });
  if (o.headers !== undefined) {
    match.headers = readKeyed(o.headers, `${path}.headers`);
    match.headers.forEach((h, i) => {
      if (!HEADER_NAME.test(h.name)) r.error(`${path}.headers[${i}].name`, `is not a valid header name: ${describe(h.name)}`);
    });
  }
  if (o.queryParams !== undefined) {
    match.queryParams = readKeyed(o.queryParams, `${path}.queryParams`);
    match.queryParams.forEach((q, i) => {
      if (Buffer.byteLength(q.name) > MAX_QUERY_PARAM_NAME_BYTES)
        r.error(`${path}.queryParams[${i}].name`, `must be at most ${MAX_QUERY_PARAM_NAME_BYTES} bytes, got ${Buffer.byteLength(q.name)}`);
    });
  }
  if (o.method !== undefined) {
    match.method = r.oneOf(o.method, `${path}.method`, ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const);
  }
  return match;
}

function checkRegex(r: FieldReader, pattern: string, path: string): void {
  try {
    new RegExp(re2AsJavaScript(pattern), 'u');
  } catch (error) {
    r.error(path, `is not a valid regular expression: ${(error as Error).message}`);
    return;
  }
  const re2 = re2Incompatibility(pattern) ?? re2Problem(pattern);
  if (re2) r.error(path, `${re2}: ${describe(pattern)}`);
}

export function readHttpRoute(r: FieldReader, doc: Obj): MeshRoute {
  const { namespace, name } = readMeta(r, doc, 'HTTPRoute');
  const spec = r.obj(doc.spec, 'spec');
  const parents = r.list(spec.parentRefs, 'spec.parentRefs').map((p, i) => {
    const path = `spec.parentRefs[${i}]`;
    const o = r.obj(p, path);
    const kind = o.kind ?? 'Service';
    if (kind !== 'Service') r.fail(`${path}.kind`, `only Service parents (GAMMA mesh routing) are supported, got ${describe(kind)}`);
    const parent: MeshRoute['parents'][number] = {
      namespace: o.namespace === undefined ? namespace : r.dnsLabel(o.namespace, `${path}.namespace`),
      name: r.dnsLabel(o.name, `${path}.name`),
    };
    const port = r.optInt(o.port, `${path}.port`, 1, 65535);
    if (port !== undefined) parent.port = port;
    return parent;
  });
  if (parents.length === 0) r.fail('spec.parentRefs', 'must name at least one parent Service');
  const rules: RouteRule[] = r.list(spec.rules, 'spec.rules').map((rule, i) => {
    const path = `spec.rules[${i}]`;
    const o = r.obj(rule, path);
    const matches =
      o.matches === undefined
        ? [{ path: { type: 'PathPrefix' as const, value: '/' } }]
        : r.list(o.matches, `${path}.matches`).map((m, j) => readMatch(r, m, `${path}.matches[${j}]`));
    const backendRefs = r.list(o.backendRefs, `${path}.backendRefs`);
    if (backendRefs.length > MAX_BACKEND_REFS)
      r.fail(`${path}.backendRefs`, `must list at most ${MAX_BACKEND_REFS} backends (Gateway API's limit), got ${backendRefs.length}`);
    const backends: BackendRef[] = backendRefs.map((b, j) => {
      const bp = `${path}.backendRefs[${j}]`;
      const bo = r.obj(b, bp);
      if (bo.kind !== undefined && bo.kind !== 'Service') r.fail(`${bp}.kind`, `must be Service, got ${describe(bo.kind)}`);
      return {
        namespace: bo.namespace === undefined ? namespace : r.dnsLabel(bo.namespace, `${bp}.namespace`),
        name: r.dnsLabel(bo.name, `${bp}.name`),
        port: r.int(bo.port, `${bp}.port`, 1, 65535),
        weight: r.optInt(bo.weight, `${bp}.weight`, 0, 1_000_000) ?? DEFAULTS.backendWeight,
      };
    });
    // Envoy adds the weights in a uint32: a larger sum NACKs the RouteConfiguration. (Unreachable
    // within the limits above, 16 × 1,000,000; kept so raising either limit cannot reopen it.)
    const weightSum = backends.reduce((sum, b) => sum + b.weight, 0);
    if (weightSum > MAX_WEIGHT_SUM) r.error(`${path}.backendRefs`, `weights must add up to at most ${MAX_WEIGHT_SUM}, got ${weightSum}`);
    const parsed: RouteRule = { matches, backends };
    const timeouts = r.optObj(o.timeouts, `${path}.timeouts`);
    const request = r.durationMs(timeouts?.request, `${path}.timeouts.request`);
    if (request !== undefined) parsed.timeoutMs = request;
    const backendRequest = r.durationMs(timeouts?.backendRequest, `${path}.timeouts.backendRequest`);
    if (backendRequest !== undefined) {
      if (request !== undefined && backendRequest > request) r.error(`${path}.timeouts.backendRequest`, 'must not be longer than timeouts.request');
      parsed.perTryTimeoutMs = backendRequest;
    }
    const retry = r.optObj(o.retry, `${path}.retry`);
    if (retry) {
      parsed.retry = {
        attempts: r.optInt(retry.attempts, `${path}.retry.attempts`, 1, 10) ?? DEFAULTS.retryAttempts,
        codes: r.list(retry.codes, `${path}.retry.codes`).map((c, j) => r.int(c, `${path}.retry.codes[${j}]`, 400, 599)),
      };
      const backoff = r.durationMs(retry.backoff, `${path}.retry.backoff`);
      if (backoff !== undefined) parsed.retry.backoffMs = backoff;
    }
    readFilters(r, o.filters, `${path}.filters`, parsed);
    // A redirect answers by itself; any other rule needs somewhere to send the request.
    if (parsed.redirect && backends.length > 0) r.error(`${path}.backendRefs`, 'must be empty when the rule has a RequestRedirect filter');
    if (parsed.redirect && parsed.urlRewrite) r.error(`${path}.filters`, 'RequestRedirect and URLRewrite cannot be on one rule');
    if (!parsed.redirect && backends.length === 0) r.error(`${path}.backendRefs`, 'must list at least one backend');
    return parsed;
  });
  return { namespace, name, parents, rules };
}

export function readAccessPolicy(r: FieldReader, doc: Obj): MeshAccessPolicy {
  const { namespace, name } = readMeta(r, doc, 'MeshAccessPolicy');
  const spec = r.obj(doc.spec, 'spec');
  const targetRef = r.obj(spec.targetRef, 'spec.targetRef');
  if (targetRef.kind !== undefined && targetRef.kind !== 'MeshService' && targetRef.kind !== 'Service')
    r.fail('spec.targetRef.kind', `must be MeshService or Service, got ${describe(targetRef.kind)}`);
  const target = r.dnsLabel(targetRef.name, 'spec.targetRef.name');
  const rules: AccessRule[] = r.list(spec.rules, 'spec.rules').map((rule, i) => {
    const path = `spec.rules[${i}]`;
    const o = r.obj(rule, path);
    const from = r.list(o.from ?? [], `${path}.from`).map((f, j) => {
      const fp = `${path}.from[${j}]`;
      const fo = r.obj(f, fp);
      const source: AccessRule['from'][number] = {};
      if (fo.namespaces !== undefined) source.namespaces = r.list(fo.namespaces, `${fp}.namespaces`).map((n, k) => r.dnsLabel(n, `${fp}.namespaces[${k}]`));
      if (fo.serviceAccounts !== undefined)
        source.serviceAccounts = r.list(fo.serviceAccounts, `${fp}.serviceAccounts`).map((sa, k) => {
          const text = r.str(sa, `${fp}.serviceAccounts[${k}]`);
          const [ns, account] = text.includes('/') ? text.split('/', 2) : [namespace, text];
          if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(ns ?? '') || !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(account ?? ''))
            r.error(`${fp}.serviceAccounts[${k}]`, `must be NAMESPACE/NAME or NAME, got ${describe(text)}`);
          return { namespace: ns ?? namespace, name: account ?? '' };
        });
      if (fo.spiffeIds !== undefined)
        source.spiffeIds = r.list(fo.spiffeIds, `${fp}.spiffeIds`).map((id, k) => {
          const text = r.str(id, `${fp}.spiffeIds[${k}]`);
          if (!/^spiffe:\/\/[a-z0-9.-]+\/[\x21-\x7e]+$/.test(text)) r.error(`${fp}.spiffeIds[${k}]`, `must be a SPIFFE ID, got ${describe(text)}`);
          return text;
        });
      return source;
    });
    const parsed: AccessRule = { from };
    const to = r.optObj(o.to, `${path}.to`);
    if (to) {
      parsed.to = {};
      if (to.paths !== undefined)
        parsed.to.paths = r.list(to.paths, `${path}.to.paths`).map((p, k) => {
          const text = r.str(p, `${path}.to.paths[${k}]`);
          if (!text.startsWith('/')) r.error(`${path}.to.paths[${k}]`, `must start with "/", got ${describe(text)}`);
          return text;
        });
      if (to.methods !== undefined)
        parsed.to.methods = r.list(to.methods, `${path}.to.methods`).map((m, k) => r.oneOf(m, `${path}.to.methods[${k}]`, HTTP_METHODS));
    }
    return parsed;
  });
  if (rules.length === 0) r.error('spec.rules', 'must list at least one rule (a policy with none would deny everything: delete it instead)');
  return { namespace, name, target, rules };
}

/** Gateway API ReferenceGrant: lets routes in `from` namespaces name Services of the grant's namespace. */
interface ReferenceGrant {
  namespace: string;
  name: string;
  grant: { fromNamespaces: string[]; toServices: (string | undefined)[] };
}

function readReferenceGrant(r: FieldReader, doc: Obj): ReferenceGrant {
  const { namespace, name } = readMeta(r, doc, 'ReferenceGrant');
  const spec = r.obj(doc.spec, 'spec');
  const fromNamespaces = r
    .list(spec.from, 'spec.from')
    .map((f, i) => r.obj(f, `spec.from[${i}]`))
    .filter((f) => f.group === 'gateway.networking.k8s.io' && f.kind === 'HTTPRoute')
    .map((f) => r.dnsLabel(f.namespace, 'spec.from[].namespace'));
  const toServices = r
    .list(spec.to, 'spec.to')
    .map((t, i) => r.obj(t, `spec.to[${i}]`))
    .filter((t) => (t.group ?? '') === '' && t.kind === 'Service')
    .map((t) => (t.name === undefined ? undefined : r.dnsLabel(t.name, 'spec.to[].name')));
  return { namespace, name, grant: { fromNamespaces, toServices } };
}

/**
 * MeshConfig: settings for the whole mesh (one per mesh; its name is free, its
 * namespace ignored). Today: `spec.tracing`, OpenTelemetry tracing in every sidecar.
 */
interface MeshConfig {
  namespace: string;
  name: string;
  settings: MeshSettings;
}

function readMeshConfig(r: FieldReader, doc: Obj): MeshConfig {
  const metadata = r.obj(doc.metadata, 'metadata');
  const name = r.dnsLabel(metadata.name, 'metadata.name');
  r.object = `MeshConfig ${name}`;
  const spec = r.obj(doc.spec, 'spec');
  const settings: MeshSettings = {};
  const tracing = r.optObj(spec.tracing, 'spec.tracing');
  if (tracing) {
    const collector = r.obj(tracing.collector, 'spec.tracing.collector');
    const address = r.str(collector.address, 'spec.tracing.collector.address');
    if (isIP(address) === 0 && !HOSTNAME.test(address))
      r.error('spec.tracing.collector.address', `must be an IP address or hostname, got ${describe(address)}`);
    const port = r.int(collector.port, 'spec.tracing.collector.port', 1, 65535);
    let samplingPercent: number = DEFAULTS.tracingSamplingPercent;
    if (tracing.samplingPercent !== undefined && tracing.samplingPercent !== null) {
      const value = tracing.samplingPercent;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 100)
        r.fail('spec.tracing.samplingPercent', `must be a number 0-100, got ${describe(value)}`);
      samplingPercent = value;
    }
    settings.tracing = { collector: { address, port }, samplingPercent };
  }
  return { namespace: '', name, settings };
}

/**
 * Tracing given as `--tracing-collector HOST:PORT [--tracing-sampling-percent N]` (the
 * Helm chart's `mesh.tracing` values): read as a MeshConfig, so the flags and the kind
 * share one validation and one set of messages.
 */
export function tracingFromFlags(collector: string, samplingPercent?: string): { settings?: MeshSettings; errors: ConfigError[] } {
  const at = collector.lastIndexOf(':');
  const port = at > 0 ? Number(collector.slice(at + 1)) : Number.NaN;
  const tracing: Record<string, unknown> = { collector: { address: at > 0 ? collector.slice(0, at).replace(/^\[|\]$/g, '') : collector, port } };
  if (samplingPercent !== undefined) tracing.samplingPercent = Number(samplingPercent);
  const r = new FieldReader('--tracing-collector', 'MeshConfig (flags)');
  try {
    const { settings } = readMeshConfig(r, { metadata: { name: 'flags' }, spec: { tracing } });
    if (r.errors.length === 0) return { settings, errors: [] };
  } catch (error) {
    if (!(error instanceof ObjectErrors)) throw error;
  }
  return { errors: r.errors };
}

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;

const READERS: Record<
  string,
  { apiVersions: string[]; read: (r: FieldReader, doc: Obj) => MeshService | MeshRoute | MeshAccessPolicy | ReferenceGrant | MeshConfig }
> = {
  MeshConfig: { apiVersions: ['meshcp.io/v1alpha1'], read: readMeshConfig },
  ReferenceGrant: { apiVersions: ['gateway.networking.k8s.io/v1beta1', 'gateway.networking.k8s.io/v1'], read: readReferenceGrant },
  MeshService: { apiVersions: ['meshcp.io/v1alpha1'], read: readMeshService },
  MeshAccessPolicy: { apiVersions: ['meshcp.io/v1alpha1'], read: readAccessPolicy },
  HTTPRoute: { apiVersions: ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'], read: readHttpRoute },
};

export interface ParseOptions {
  /**
   * Services that exist without a manifest (native Kubernetes Services): they are
   * in the model and routes resolve against them. A MeshService manifest of the
   * same namespace/name replaces one.
   */
  services?: ReadonlyMap<string, MeshService>;
  /**
   * Manifests (by index) that were serving before this parse. When two objects
   * conflict (defined twice, or one TCP port claimed twice), an incumbent wins
   * over a newcomer; among equals the earlier manifest wins. Output order does
   * not depend on it.
   */
  incumbent?: (index: number) => boolean;
}

/** What became of one input manifest. */
export interface ManifestOutcome {
  /** `Kind namespace/name`, once that much could be read. */
  object?: string;
  errors: ConfigError[];
  /** In the model. */
  accepted: boolean;
}

function manifestOutcomes(manifests: readonly Manifest[]): ManifestOutcome[] {
  return manifests.map(() => ({ errors: [], accepted: false }));
}

/**
 * Validates each manifest on its own, then across them: an object defined twice
 * and a TCP port claimed by two services are conflicts (the incumbent, else the
 * earlier one, keeps serving), and routes must resolve to existing services.
 */
export function parseManifests(manifests: readonly Manifest[], options: ParseOptions = {}): ParsedManifests & { outcomes: ManifestOutcome[] } {
  const outcomes = manifestOutcomes(manifests);
  const order = manifests.map((_, i) => i);
  if (options.incumbent) {
    const first = options.incumbent;
    order.sort((a, b) => Number(first(b)) - Number(first(a)) || a - b);
  }
  const declared = new Map<string, { service: MeshService; index: number }>();
  const routeOwners = new Map<string, number>();
  const routes: { route: MeshRoute; index: number }[] = [];
  const policyOwners = new Map<string, number>();
  const grants: ReferenceGrant[] = [];
  const policies: { policy: MeshAccessPolicy; index: number }[] = [];
  let meshConfig: { config: MeshConfig; index: number } | undefined;
  /** TCP service port → the service holding it: every proxy listens on it (plus its offset) mesh-wide. */
  const tcpPorts = new Map<number, { key: string; index: number }>();
  for (const index of order) {
    const manifest = manifests[index] as Manifest;
    const { source, doc } = manifest;
    const outcome = outcomes[index] as ManifestOutcome;
    if (doc === null || doc === undefined) continue;
    const r: FieldReader = new FieldReader(source, unnamedObject(manifest));
    try {
      const o = r.obj(doc, '(document)');
      const kind = r.str(o.kind, 'kind');
      const reader = READERS[kind];
      if (!reader) r.fail('kind', `unsupported kind ${kind} (expected ${Object.keys(READERS).join(', ')})`);
      if (!reader.apiVersions.includes(String(o.apiVersion)))
        r.fail('apiVersion', `must be ${reader.apiVersions.join(' or ')} for ${kind}, got ${describe(o.apiVersion)}`);
      const parsed = reader.read(r, o);
      outcome.object = r.object;
      if (r.errors.length === 0) {
        const key = serviceKey(parsed.namespace, parsed.name);
        if ('grant' in parsed) {
          grants.push(parsed);
          outcome.accepted = true;
          outcome.errors.push(...r.errors);
          continue;
        }
        if ('settings' in parsed) {
          // One MeshConfig per mesh: a second one (whatever its name) conflicts with the first.
          if (meshConfig) {
            const other = manifests[meshConfig.index] as Manifest;
            outcome.errors.push({
              source,
              object: r.object,
              path: 'metadata.name',
              message: `the mesh already has MeshConfig ${meshConfig.config.name} (${manifestLocation(other)}), which keeps serving; a mesh has one MeshConfig`,
              reason: 'conflict',
            });
          } else {
            meshConfig = { config: parsed, index };
            outcome.accepted = true;
          }
          continue;
        }
        const ownerIndex = 'ports' in parsed ? declared.get(key)?.index : 'target' in parsed ? policyOwners.get(key) : routeOwners.get(key);
        if (ownerIndex !== undefined) {
          const other = manifests[ownerIndex] as Manifest;
          r.errors.push({
            source,
            object: r.object,
            path: 'metadata.name',
            message: `${r.object} is defined twice: here (${manifestLocation(manifest)}) and in ${manifestLocation(other)}, which keeps serving; remove one of them`,
            reason: 'conflict',
          });
        } else if ('ports' in parsed) {
          const clashes = parsed.ports.flatMap((port, i) => {
            const holder = port.protocol === 'TCP' ? tcpPorts.get(port.port) : undefined;
            return holder ? [{ i, port: port.port, holder }] : [];
          });
          for (const { i, port, holder } of clashes)
            r.errors.push({
              source,
              object: r.object,
              path: `spec.ports[${i}].port`,
              message: `TCP port ${port} is already taken by MeshService ${holder.key} (${manifestLocation(manifests[holder.index] as Manifest)}): every proxy listens for a TCP service on its port, so two TCP services cannot share one; this service is left out`,
              reason: 'conflict',
            });
          if (clashes.length === 0) {
            declared.set(key, { service: parsed, index });
            for (const port of parsed.ports) if (port.protocol === 'TCP') tcpPorts.set(port.port, { key, index });
            outcome.accepted = true;
          }
        } else if ('target' in parsed) {
          policyOwners.set(key, index);
          policies.push({ policy: parsed, index });
          outcome.accepted = true;
        } else {
          routeOwners.set(key, index);
          routes.push({ route: parsed, index });
          outcome.accepted = true;
        }
      }
    } catch (error) {
      if (!(error instanceof ObjectErrors)) throw error;
    }
    outcome.errors.push(...r.errors);
  }
  const services = new Map<string, MeshService>(options.services ?? []);
  for (const { service } of [...declared.values()].sort((a, b) => a.index - b.index)) services.set(serviceKey(service.namespace, service.name), service);
  routes.sort((a, b) => a.index - b.index);
  const resolvedRoutes: MeshRoute[] = [];
  for (const { route, index } of routes) {
    const { source } = manifests[index] as Manifest;
    const object = `HTTPRoute ${route.namespace}/${route.name}`;
    const refErrors: ConfigError[] = [];
    route.parents.forEach((parent, i) => {
      const service = services.get(serviceKey(parent.namespace, parent.name));
      if (!service)
        refErrors.push({
          source,
          object,
          path: `spec.parentRefs[${i}]`,
          message: `Service ${parent.namespace}/${parent.name} not found`,
          reason: 'unresolved',
        });
      else if (parent.port !== undefined && !service.ports.some((p) => p.port === parent.port)) {
        refErrors.push({
          source,
          object,
          path: `spec.parentRefs[${i}].port`,
          message: `Service ${parent.namespace}/${parent.name} has no port ${parent.port}`,
          reason: 'unresolved',
        });
      }
    });
    route.rules.forEach((rule, i) => {
      rule.backends.forEach((b, j) => {
        const service = services.get(serviceKey(b.namespace, b.name));
        const path = `spec.rules[${i}].backendRefs[${j}]`;
        const granted =
          b.namespace === route.namespace ||
          grants.some(
            (g) =>
              g.namespace === b.namespace &&
              g.grant.fromNamespaces.includes(route.namespace) &&
              g.grant.toServices.some((n) => n === undefined || n === b.name),
          );
        if (!granted)
          refErrors.push({
            source,
            object,
            path,
            message: `backend Service ${b.namespace}/${b.name} is in another namespace: it needs a ReferenceGrant in ${b.namespace} from HTTPRoutes of ${route.namespace} (Gateway API)`,
            reason: 'unresolved',
          });
        else if (!service) refErrors.push({ source, object, path, message: `backend Service ${b.namespace}/${b.name} not found`, reason: 'unresolved' });
        else if (!service.ports.some((p) => p.port === b.port))
          refErrors.push({
            source,
            object,
            path: `${path}.port`,
            message: `backend Service ${b.namespace}/${b.name} has no port ${b.port}`,
            reason: 'unresolved',
          });
      });
    });
    const outcome = outcomes[index] as ManifestOutcome;
    if (refErrors.length > 0) {
      outcome.errors.push(...refErrors);
      outcome.accepted = false;
    } else {
      resolvedRoutes.push(route);
    }
  }
  const resolvedPolicies: MeshAccessPolicy[] = [];
  for (const { policy, index } of policies.sort((a, b) => a.index - b.index)) {
    const outcome = outcomes[index] as ManifestOutcome;
    if (services.has(serviceKey(policy.namespace, policy.target))) resolvedPolicies.push(policy);
    else {
      outcome.errors.push({
        source: (manifests[index] as Manifest).source,
        object: `MeshAccessPolicy ${policy.namespace}/${policy.name}`,
        path: 'spec.targetRef.name',
        message: `MeshService ${policy.namespace}/${policy.target} not found (a policy guards a service of its own namespace)`,
        reason: 'unresolved',
      });
      outcome.accepted = false;
    }
  }
  return {
    model: {
      services,
      routes: resolvedRoutes,
      ...(resolvedPolicies.length > 0 ? { policies: resolvedPolicies } : {}),
      ...(meshConfig ? { settings: meshConfig.config.settings } : {}),
    },
    errors: outcomes.flatMap((o) => o.errors),
    accepted: outcomes.flatMap((o) => (o.accepted && o.object ? [o.object] : [])),
    outcomes,
  };
}
