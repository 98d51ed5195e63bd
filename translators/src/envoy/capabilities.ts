/**
 * What each Envoy version does with what we might send it. Translators ask
 * `supports(profile, feature)`; no translator compares version numbers itself.
 * A proxy's profile is the set of rows its version satisfies, so proxies whose
 * versions cross no row boundary share one profile and one cached translation.
 */
import { CONSERVATIVE_ENVOY_VERSION } from '@meshcp/xds-protos';
import { compareVersions, formatVersion, type ProxyInfo, parseVersion, type Version } from '../proxy.js';

export interface Capability<Name extends string = string> {
  /** What the translator asks about, e.g. 'route.hostRewrite'. */
  feature: Name;
  /** First Envoy version that honours it. */
  since: string;
  /** First version that stops accepting it, if any. */
  until?: string;
  /** What an older Envoy does when sent it. */
  onOlder: 'dropped' | 'nacked' | 'different-default';
  /** Typed extension name that `node.extensions[]` must list, where that decides support. */
  extension?: string;
  /** Where the fact comes from (changelog, proto comment). */
  source: string;
  /** The test or matrix scenario that fails if this row is wrong (compat-matrix checks every Envoy row has one). */
  proof?: string;
}

/** Rows are data; `capabilities.test.ts` keeps them well-formed. */
const ENVOY_ROWS = [
  {
    feature: 'cluster.dnsClusterExtension',
    since: '1.33.0',
    onOlder: 'nacked',
    extension: 'envoy.cluster.dns',
    source:
      'envoy.extensions.clusters.dns.v3.DnsCluster is absent from the 1.32 API descriptors and present from 1.35 (go-control-plane envoy module); changelog 1.33.0',
    proof: 'translators/test/api-versions.test.ts (descriptor check); compat-matrix scenario cap-cluster-dns-cluster-extension',
  },
  {
    feature: 'http2.safeDefaultsPinned',
    since: '1.36.0',
    onOlder: 'different-default',
    source: 'changelog 1.36.0: HTTP/2 max concurrent streams 2147483647 → 1024, initial stream window 256 MiB → 16 MiB, connection window 256 MiB → 24 MiB',
    proof: 'compat-matrix scenario cap-http2-safe-defaults-pinned',
  },
  {
    feature: 'route.pathRewrite',
    since: '1.37.0',
    onOlder: 'dropped',
    source: 'RouteAction.path_rewrite (field 45) is absent from the 1.36 API descriptors and present from 1.37',
    proof: 'compat-matrix scenario cap-route-path-rewrite',
  },
  {
    feature: 'endpoint.observabilityName',
    since: '1.39.0',
    onOlder: 'dropped',
    source: 'Endpoint.observability_name is absent from the 1.38 API descriptors and present from 1.39',
    proof: 'compat-matrix scenario cap-endpoint-observability-name',
  },
  {
    // The tracer's config as meshcp sends it is the same in every supported API: 1.37 adds
    // HCM tracing.operation/upstream_operation, 1.38 no_context_propagation, 1.39 the
    // set_*_resource_attribute switches, 1.40 exporter/set_instrumentation_scope — all
    // optional, none sent. What decides support is whether the build has the extension.
    feature: 'tracing.openTelemetry',
    since: '1.32.0',
    onOlder: 'nacked',
    extension: 'envoy.tracers.opentelemetry',
    source:
      'envoy.config.trace.v3.OpenTelemetryConfig (grpc_service, service_name) and HCM Tracing (provider, random_sampling) are in every API descriptor set 1.33-1.40 (go-control-plane envoy module); extension envoy.tracers.opentelemetry',
    proof:
      'compat-matrix scenario cap-tracing-open-telemetry (spans exported on every release); e2e/test/tracing.test.ts (one trace through two sidecars, oldest and newest release)',
  },
] as const satisfies readonly Capability[];

/** The names translators may ask about: derived from the rows, so a misspelt name does not compile. */
export type EnvoyCapability = (typeof ENVOY_ROWS)[number]['feature'];

export const ENVOY_CAPABILITIES: readonly Capability<EnvoyCapability>[] = ENVOY_ROWS;

// Supported minors and the conservative (oldest) version come from xds-protos/envoy-api.json.
export { CONSERVATIVE_ENVOY_VERSION, SUPPORTED_ENVOY_MINORS } from '@meshcp/xds-protos';

/** What one client kind at one version can be given: the rows its version satisfies. */
export interface ClientProfile<Name extends string = string> {
  /** Names the range of versions sharing this translation, e.g. 'envoy-1.37+'. */
  name: string;
  features: ReadonlySet<Name>;
  /** Why this proxy got a fallback profile, for the admin API. */
  warnings: string[];
}

export type EnvoyProfile = ClientProfile<EnvoyCapability>;

function satisfies(row: Capability<EnvoyCapability>, version: Version, extensions: readonly string[]): boolean {
  const since = parseVersion(row.since);
  const until = row.until ? parseVersion(row.until) : undefined;
  if (!since || compareVersions(version, since) < 0) return false;
  if (until && compareVersions(version, until) >= 0) return false;
  // node.extensions[] refines the version: a build without the extension cannot use it.
  if (row.extension && extensions.length > 0 && !extensions.includes(row.extension)) return false;
  return true;
}

export function envoyProfile(
  proxy: Pick<ProxyInfo, 'version' | 'versionText' | 'extensions'>,
  table: readonly Capability<EnvoyCapability>[] = ENVOY_CAPABILITIES,
): EnvoyProfile {
  const warnings: string[] = [];
  let version = proxy.version;
  const conservative = parseVersion(CONSERVATIVE_ENVOY_VERSION) as Version;
  if (!version) {
    warnings.push(`unknown Envoy version ${JSON.stringify(proxy.versionText)}: using the conservative ${CONSERVATIVE_ENVOY_VERSION} profile`);
    version = conservative;
  } else if (compareVersions(version, conservative) < 0) {
    warnings.push(
      `Envoy ${formatVersion(version)} is older than the oldest supported ${CONSERVATIVE_ENVOY_VERSION}: translating as ${CONSERVATIVE_ENVOY_VERSION}`,
    );
    version = conservative;
  }
  const features = new Set(table.filter((row) => satisfies(row, version, proxy.extensions)).map((row) => row.feature));
  // Named by the newest row boundary the version has crossed: 'envoy-1.37+' covers
  // every version up to the next boundary. Features a build's extension list rules out
  // are named too, since such a proxy gets a different translation.
  let boundary = conservative;
  for (const row of table) {
    for (const edge of [row.since, row.until]) {
      const parsed = edge ? parseVersion(edge) : undefined;
      if (parsed && compareVersions(version, parsed) >= 0 && compareVersions(parsed, boundary) > 0) boundary = parsed;
    }
  }
  const missing = table.filter((row) => !features.has(row.feature) && satisfies(row, version, [])).map((row) => row.feature);
  const name = `envoy-${boundary.major}.${boundary.minor}+${missing.length > 0 ? `(without ${missing.sort().join(',')})` : ''}`;
  return { name, features, warnings };
}

export function supports<Name extends string>(profile: ClientProfile<Name>, feature: Name): boolean {
  return profile.features.has(feature);
}
