/**
 * What each Envoy version does with what we might send it. Translators ask
 * `supports(profile, feature)`; no translator compares version numbers itself.
 * A proxy's profile is the set of rows its version satisfies, so proxies whose
 * versions cross no row boundary share one profile and one cached translation.
 */
import { compareVersions, formatVersion, type ProxyInfo, parseVersion, type Version } from '../proxy.js';

export interface Capability {
  /** What the translator asks about, e.g. 'route.hostRewrite'. */
  feature: string;
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
  /** The test or matrix scenario that fails if this row is wrong; absent while unproven. */
  proof?: string;
}

/** Rows are data; `capabilities.test.ts` keeps them well-formed. */
export const ENVOY_CAPABILITIES: readonly Capability[] = [
  {
    feature: 'cluster.dnsClusterExtension',
    since: '1.33.0',
    onOlder: 'nacked',
    extension: 'envoy.cluster.dns',
    source: 'envoy/extensions/clusters/dns/v3/dns_cluster.proto: added in 1.33 (changelog 1.33.0 "new dns cluster extension")',
  },
  {
    feature: 'lb.overrideHostPolicy',
    since: '1.35.0',
    onOlder: 'nacked',
    extension: 'envoy.load_balancing_policies.override_host',
    source: 'envoy/extensions/load_balancing_policies/override_host/v3: added in 1.35 (changelog 1.35.0)',
  },
  {
    feature: 'route.requestBodyBufferLimit',
    since: '1.36.0',
    onOlder: 'dropped',
    source: 'RouteConfiguration/Route request_body_buffer_limit: added in 1.36 (changelog 1.36.0)',
  },
  {
    feature: 'route.hostRewrite',
    since: '1.37.0',
    onOlder: 'dropped',
    source: 'RouteAction.host_rewrite: added in 1.37 (changelog 1.37.0)',
  },
  {
    feature: 'route.pathRewrite',
    since: '1.37.0',
    onOlder: 'dropped',
    source: 'RouteAction.path_rewrite: added in 1.37 (changelog 1.37.0)',
  },
  {
    feature: 'route.cookieMatch',
    since: '1.37.0',
    onOlder: 'dropped',
    source: 'RouteMatch.cookies: added in 1.37 (changelog 1.37.0)',
  },
  {
    feature: 'endpoint.observabilityName',
    since: '1.39.0',
    onOlder: 'dropped',
    source: 'Endpoint.observability_name: added in 1.39 (changelog 1.39.0)',
  },
];

/** Oldest Envoy we translate for; anything unknown is treated as this. */
export const CONSERVATIVE_ENVOY_VERSION = '1.32.0';

export interface EnvoyProfile {
  /** Names the range of versions sharing this translation, e.g. 'envoy@1.37'. */
  name: string;
  features: ReadonlySet<string>;
  /** Why this proxy got a fallback profile, for the admin API. */
  warnings: string[];
}

function satisfies(row: Capability, version: Version, extensions: readonly string[]): boolean {
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
  table: readonly Capability[] = ENVOY_CAPABILITIES,
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

export function supports(profile: EnvoyProfile, feature: string): boolean {
  return profile.features.has(feature);
}
