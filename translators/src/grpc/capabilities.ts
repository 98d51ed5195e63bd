/**
 * What each proxyless gRPC implementation honours, by the version of the release
 * the client reports. Rows come from gRPC's own "xDS Features in gRPC" table
 * (grpc/grpc doc/grpc_xds_features.md), one column per implementation:
 * C-core (wrapped by C++, Python, Ruby and PHP, versioned by the grpc/grpc
 * release, which is the wrapping language's package version), grpc-java,
 * grpc-go and grpc-node (`@grpc/grpc-js-xds`).
 *
 * Two kinds of facts live here:
 * - requirements every gRPC client has, whatever its version (GRPC_REQUIREMENTS):
 *   the translator always meets them, for every gRPC client kind, known or not;
 * - features with a first version per implementation (GRPC_CAPABILITIES): a
 *   client older than the row is not sent the feature and sees it as degraded.
 */
import { compareVersions, formatVersion, type ProxyInfo, parseVersion, type Version } from '../proxy.js';

/** Features the gRPC translator asks about. A typo is a compile error. */
export type GrpcFeature =
  | 'route.weightedClusters'
  | 'route.headerMatch'
  | 'route.maxStreamDuration'
  | 'cluster.circuitBreakers'
  | 'filter.faultInjection'
  | 'cluster.ringHash'
  | 'route.retryPolicy'
  | 'cluster.outlierDetection'
  | 'security.clientMtls'
  | 'security.serverMtls'
  | 'server.rbac';

/** The four xDS implementations gRPC ships (gRPC .NET, Swift, Rust… have none). */
export type GrpcImplementation = 'grpc-core' | 'grpc-java' | 'grpc-go' | 'grpc-node';

/** Languages that wrap C-core, as their node's user_agent_name names them. */
export const CORE_LANGUAGES = ['cpp', 'python', 'ruby', 'php'] as const;
export type CoreLanguage = (typeof CORE_LANGUAGES)[number];

/** One row: a feature, the gRFC that defines it and the first release of each implementation that has it. */
export interface GrpcCapability {
  feature: GrpcFeature;
  grfc: string;
  title: string;
  /** First version per implementation; absent: that implementation does not have it (yet). */
  since: Partial<Record<GrpcImplementation, string>>;
  /** Implementations the doc's row leaves empty: they do not have it (checked by the capability test). */
  notImplementedBy?: readonly GrpcImplementation[];
  /** C-core languages the C-core column does not cover (the doc's "C++ and Python", "N/A for PHP"). */
  coreExcept?: readonly CoreLanguage[];
  /** What an older client does when sent it anyway. */
  onOlder: 'ignored' | 'nacked';
  /**
   * Implementations the doc lists but that mishandle the feature in the matrix:
   * meshcp does not send it to them (they see it as degraded), with what was seen.
   */
  broken?: Partial<Record<GrpcImplementation, string>>;
  source: string;
  /** The matrix scenario (compat-matrix client axis) or test that fails if the row is wrong. */
  proof?: string;
}

const XDS_FEATURES_DOC = 'grpc/grpc doc/grpc_xds_features.md';

export const GRPC_CAPABILITIES: readonly GrpcCapability[] = [
  {
    feature: 'route.weightedClusters',
    grfc: 'A28',
    title: 'weighted clusters (traffic split)',
    since: { 'grpc-core': '1.31.0', 'grpc-java': '1.31.0', 'grpc-go': '1.31.0', 'grpc-node': '1.3.0' },
    onOlder: 'nacked',
    source: `${XDS_FEATURES_DOC}, row "Request routing to multiple clusters based on weights" (A28)`,
    proof: 'compat-matrix client scenarios grpc-weighted-split, grpc-live-switch',
  },
  {
    feature: 'route.headerMatch',
    grfc: 'A28',
    title: 'path and header matching',
    since: { 'grpc-core': '1.31.0', 'grpc-java': '1.31.0', 'grpc-go': '1.31.0', 'grpc-node': '1.3.0' },
    onOlder: 'ignored',
    source: `${XDS_FEATURES_DOC}, row "Request matching based on path, headers" (A28)`,
    proof: 'compat-matrix client scenario grpc-weighted-split (prefix match on the service path)',
  },
  {
    feature: 'route.maxStreamDuration',
    grfc: 'A31',
    title: 'request timeout (max_stream_duration)',
    since: { 'grpc-core': '1.37.1', 'grpc-java': '1.37.1', 'grpc-go': '1.37.0', 'grpc-node': '1.4.0' },
    onOlder: 'ignored',
    broken: {
      'grpc-core':
        'grpcio 1.80.0 and 1.85.1 end RPCs DEADLINE_EXCEEDED within a millisecond when the route has max_stream_duration 0.3 s, 1 s or 1.1 s, and some with 2 s (1.5 s, 5 s and 10 s behaved); an outage, so it is not sent',
    },
    source: `${XDS_FEATURES_DOC}, row "Maximum Stream Duration" (A31); C-core measured by compat-matrix grpc-timeout`,
    proof: 'compat-matrix client scenario grpc-timeout',
  },
  {
    feature: 'cluster.circuitBreakers',
    grfc: 'A32',
    title: 'circuit breaking (max_requests only)',
    since: { 'grpc-core': '1.37.1', 'grpc-java': '1.37.1', 'grpc-go': '1.37.0', 'grpc-node': '1.4.0' },
    coreExcept: ['php'],
    onOlder: 'ignored',
    source: `${XDS_FEATURES_DOC}, row "Circuit Breaking" (A32; N/A for PHP)`,
  },
  {
    feature: 'filter.faultInjection',
    grfc: 'A33',
    title: 'fault injection filter',
    since: { 'grpc-core': '1.37.1', 'grpc-java': '1.37.1', 'grpc-go': '1.37.0', 'grpc-node': '1.4.0' },
    onOlder: 'nacked',
    source: `${XDS_FEATURES_DOC}, row "Fault Injection" (A33)`,
  },
  {
    feature: 'cluster.ringHash',
    grfc: 'A42',
    title: 'ring hash load balancing',
    since: { 'grpc-core': '1.40.0', 'grpc-java': '1.40.1', 'grpc-go': '1.41.0', 'grpc-node': '1.10.0' },
    coreExcept: ['ruby', 'php'],
    onOlder: 'nacked',
    source: `${XDS_FEATURES_DOC}, row "Ring hash load balancing policy" (A42; C-core: C++ and Python only)`,
  },
  {
    feature: 'route.retryPolicy',
    grfc: 'A44',
    title: 'retries (retry_on gRPC status codes, num_retries)',
    since: { 'grpc-core': '1.40.0', 'grpc-java': '1.40.1', 'grpc-go': '1.41.0', 'grpc-node': '1.8.0' },
    coreExcept: ['ruby', 'php'],
    onOlder: 'ignored',
    source: `${XDS_FEATURES_DOC}, row "Retry" (A44; C-core: C++ and Python only)`,
    proof: 'compat-matrix client scenario grpc-retry (retries where supported, none below the row)',
  },
  {
    feature: 'cluster.outlierDetection',
    grfc: 'A50',
    title: 'outlier detection (success rate, failure percentage)',
    since: { 'grpc-core': '1.51.0', 'grpc-java': '1.49.0', 'grpc-go': '1.50.0', 'grpc-node': '1.7.0' },
    onOlder: 'ignored',
    source: `${XDS_FEATURES_DOC}, row "Outlier Detection" (A50)`,
  },
  {
    feature: 'security.clientMtls',
    grfc: 'A29',
    title: 'mesh mTLS, client side (UpstreamTlsContext from certificate providers)',
    since: { 'grpc-core': '1.41.0', 'grpc-java': '1.41.0', 'grpc-go': '1.41.0' },
    notImplementedBy: ['grpc-node'],
    coreExcept: ['ruby', 'php'],
    // A client below the row ignores the TLS context and would dial in plaintext: it is
    // never sent a cluster of a STRICT service (translators/src/grpc/security.ts).
    onOlder: 'ignored',
    source: `${XDS_FEATURES_DOC}, row "Security: uses certificate providers instead of SDS" (A29; C-core: C++ and Python only; Node: none)`,
    proof: 'e2e/test/grpc-mtls.test.ts (Go, Python (grpcio) and Java clients over mTLS with files from meshcp agent; grpc-js-xds refused a STRICT service)',
  },
  {
    feature: 'security.serverMtls',
    grfc: 'A29',
    title: 'mesh mTLS, xDS-enabled servers (gRFC A36; DownstreamTlsContext on the server Listener)',
    since: { 'grpc-core': '1.41.0', 'grpc-java': '1.41.0', 'grpc-go': '1.41.0' },
    notImplementedBy: ['grpc-node'],
    coreExcept: ['ruby', 'php'],
    onOlder: 'ignored',
    source: `${XDS_FEATURES_DOC}, row "Security" (A29 covers clients and servers; servers per A36); Node: none`,
    // grpc-java names every server 0.0.0.0:PORT and takes only a Listener at 0.0.0.0: served its own service's (grpc/security.ts).
    proof:
      'e2e/test/grpc-mtls.test.ts (grpc-go xDS-enabled server refuses plaintext and sees the caller SPIFFE ID); e2e/test/grpc-mtls-java-server.test.ts (the same of a grpc-java 1.85.1 xDS-enabled server, with grpc-go and grpc-java clients)',
  },
  {
    feature: 'server.rbac',
    grfc: 'A41',
    title: 'MeshAccessPolicy on xDS-enabled servers (RBAC HTTP filter)',
    since: { 'grpc-core': '1.51.0', 'grpc-java': '1.42.0', 'grpc-go': '1.42.0' },
    notImplementedBy: ['grpc-node'],
    coreExcept: ['ruby', 'php'],
    // A server without it would ignore the filter and admit every caller: a policy-guarded
    // service's Listener is not sent to it (translators/src/grpc/rbac.ts).
    onOlder: 'ignored',
    source: `${XDS_FEATURES_DOC}, row "Authorization (RBAC)" (A41; C-core: C++ and Python only; Node: none)`,
    proof:
      'e2e/test/grpc-mtls.test.ts and e2e/test/grpc-mtls-java-server.test.ts (a policy allowing only shop/web: grpc-go and grpc-java servers admit web, refuse shop/other with PERMISSION_DENIED)',
  },
];

/** What every gRPC xDS client needs, whatever its language or version. */
export interface GrpcRequirement {
  id: 'eds.localityWeights';
  grfc: string;
  what: string;
  source: string;
  proof: string;
}

export const GRPC_REQUIREMENTS: readonly GrpcRequirement[] = [
  {
    id: 'eds.localityWeights',
    grfc: 'A27',
    what: 'every EDS locality carries load_balancing_weight: gRPC drops a locality without one, and a cluster without weighted localities has no endpoints',
    source:
      'gRFC A27 ("Priority-based weighted round-robin locality picking"); seen here: grpc-go "Ignoring locality … with weight 0", C-core "contains no localities", grpc-java "No usable endpoint"',
    proof: 'compat-matrix client scenario grpc-resolve-connect and its planted regression (compat-matrix/test/clients.test.ts)',
  },
];

/** A client bug seen in the matrix that meshcp cannot work around: shown as degraded to the affected versions. */
export interface GrpcDefect {
  id: 'route.coldClusterSwitch';
  implementation: GrpcImplementation;
  /** First version without the defect, once the matrix has seen one; absent: every version so far. */
  fixedBy?: string;
  /** When it bites, in words for the degraded list. */
  effect: string;
  seen: string;
}

export const GRPC_DEFECTS: readonly GrpcDefect[] = [
  {
    id: 'route.coldClusterSwitch',
    implementation: 'grpc-go',
    effect:
      'when a route shifts traffic to a backend cluster this client has not used yet, its first RPCs can fail UNAVAILABLE "unknown cluster selected for RPC" (a race, seen for ~50-200 ms)',
    seen: 'compat-matrix grpc-live-switch: grpc-go 1.40.0 and 1.41.0 fail 1-10 RPCs in most runs, 1.81.1 2 RPCs in one run of five; 1.85.0 none seen yet',
  },
];

/**
 * The first release of each implementation meshcp serves: xDS v3 (gRFC A30). An
 * older client speaks only v2, which meshcp does not serve.
 */
export const GRPC_MINIMUM: Record<GrpcImplementation, string> = {
  'grpc-core': '1.36.0',
  'grpc-java': '1.36.0',
  'grpc-go': '1.36.0',
  'grpc-node': '1.4.0',
};

/**
 * Features an unknown gRPC language is served: only those every implementation
 * has (in every C-core language too), each proven in the matrix against every
 * client implementation it lists.
 */
export const GRPC_COMMON_SUBSET: readonly GrpcFeature[] = GRPC_CAPABILITIES.filter(
  (row) => row.proof && (Object.keys(GRPC_MINIMUM) as GrpcImplementation[]).every((impl) => row.since[impl] && !row.broken?.[impl]) && !row.coreExcept?.length,
).map((row) => row.feature);

export interface GrpcProfile {
  kind: 'grpc';
  /** Names the range of versions sharing this translation, e.g. 'grpc-go-1.50+'. */
  name: string;
  implementation: GrpcImplementation | undefined;
  /** The language the node named (go, java, python, cpp, ruby, php, node, …). */
  language: string;
  /** The implementation's release version, when known (C-core: the wrapping language's release). */
  version: Version | undefined;
  features: ReadonlySet<GrpcFeature>;
  /** Known client bugs of this version (GRPC_DEFECTS ids). */
  defects: ReadonlySet<GrpcDefect['id']>;
  warnings: string[];
  /** Features the version has but this client cannot use, and why (e.g. no certificate provider in its bootstrap). */
  withheld?: ReadonlyMap<GrpcFeature, string>;
}

/** Mesh mTLS needs certificates the client reads through its bootstrap's certificate provider. */
const NEEDS_CERTIFICATE_PROVIDER: readonly GrpcFeature[] = ['security.clientMtls', 'security.serverMtls'];

export function grpcSupports(profile: GrpcProfile, feature: GrpcFeature): boolean {
  return profile.features.has(feature);
}

/** A client's implementation and language from its client kind (`grpc-go`, `grpc-python`, `grpc-c-core`…). */
export function implementationOf(clientKind: string): { implementation: GrpcImplementation | undefined; language: string } {
  const language = clientKind.replace(/^grpc-/, '');
  if (language === 'go') return { implementation: 'grpc-go', language };
  if (language === 'java') return { implementation: 'grpc-java', language };
  if (language === 'node') return { implementation: 'grpc-node', language };
  if ((CORE_LANGUAGES as readonly string[]).includes(language)) return { implementation: 'grpc-core', language };
  if (language === 'c++' || language === 'c-core' || language === 'core') return { implementation: 'grpc-core', language: 'cpp' };
  return { implementation: undefined, language };
}

/**
 * The release version a client's node reports. C-core clients say e.g.
 * `C-core 58.0.0 Python 1.85.1` or `1.85.1`: the C-core number is internal, the
 * rows use the grpc/grpc release, which is the wrapping language's version.
 */
export function grpcReleaseVersion(versionText: string, parsed: Version | undefined): Version | undefined {
  const wrapped = /(?:^|\s)(?:python|ruby|php|c\+\+|cpp)\s+v?(\d+\.\d+(?:\.\d+)?)/i.exec(versionText);
  if (wrapped) return parseVersion(wrapped[1]);
  if (/c-core/i.test(versionText)) return undefined;
  return parsed ?? parseVersion(versionText);
}

function rowSince(row: GrpcCapability, implementation: GrpcImplementation, language: string): Version | undefined {
  if (implementation === 'grpc-core' && row.coreExcept?.includes(language as CoreLanguage)) return undefined;
  if (row.broken?.[implementation]) return undefined;
  const since = row.since[implementation];
  return since ? parseVersion(since) : undefined;
}

export function grpcProfile(proxy: Pick<ProxyInfo, 'clientKind' | 'version' | 'versionText' | 'certificateProvider'>): GrpcProfile {
  const { implementation, language } = implementationOf(proxy.clientKind);
  const version = grpcReleaseVersion(proxy.versionText, proxy.version);
  const warnings: string[] = [];
  if (!implementation) {
    warnings.push(
      `${proxy.clientKind} is not a gRPC xDS implementation meshcp has rows for: serving the subset proven with every implementation (${GRPC_COMMON_SUBSET.join(', ')})`,
    );
    return {
      kind: 'grpc',
      name: `${proxy.clientKind}-common`,
      implementation,
      language,
      version,
      features: new Set(GRPC_COMMON_SUBSET),
      defects: new Set(),
      warnings,
    };
  }
  if (!version) {
    warnings.push(`unknown ${proxy.clientKind} version ${JSON.stringify(proxy.versionText)}: serving the subset proven with every implementation`);
    return {
      kind: 'grpc',
      name: `${proxy.clientKind}-common`,
      implementation,
      language,
      version,
      features: new Set(GRPC_COMMON_SUBSET),
      defects: new Set(),
      warnings,
    };
  }
  const minimum = parseVersion(GRPC_MINIMUM[implementation]) as Version;
  if (compareVersions(version, minimum) < 0)
    warnings.push(`${proxy.clientKind} ${formatVersion(version)} predates xDS v3 (${GRPC_MINIMUM[implementation]}); meshcp serves v3 only`);
  const features = new Set<GrpcFeature>();
  // Named by the newest row boundary crossed, so versions between two boundaries share one translation.
  let boundary = minimum;
  for (const row of GRPC_CAPABILITIES) {
    const since = rowSince(row, implementation, language);
    if (!since || compareVersions(version, since) < 0) continue;
    features.add(row.feature);
    if (compareVersions(since, boundary) > 0) boundary = since;
  }
  const defects = new Set<GrpcDefect['id']>();
  for (const defect of GRPC_DEFECTS) {
    if (defect.implementation !== implementation) continue;
    const fixedBy = defect.fixedBy ? (parseVersion(defect.fixedBy) as Version) : undefined;
    if (!fixedBy || compareVersions(version, fixedBy) < 0) defects.add(defect.id);
    else if (compareVersions(fixedBy, boundary) > 0) boundary = fixedBy;
  }
  // C-core languages differ in rows (Ruby/PHP lack some): the language is part of the name.
  const who = implementation === 'grpc-core' ? `grpc-core-${language}` : implementation;
  let name = `${who}-${boundary.major}.${boundary.minor}${boundary.patch > 0 && GRPC_DEFECTS.some((d) => d.fixedBy === formatVersion(boundary)) ? `.${boundary.patch}` : ''}+`;
  // A TLS context naming a certificate provider the bootstrap lacks is NACKed: without one, the client is served as if it had no mTLS.
  const withheld = new Map<GrpcFeature, string>();
  if (!proxy.certificateProvider)
    for (const feature of NEEDS_CERTIFICATE_PROVIDER)
      if (features.delete(feature))
        withheld.set(feature, 'its bootstrap has no meshcp certificate provider (meshcp bootstrap --workload-cert-dir, files from meshcp agent)');
  if (withheld.size > 0) name += '-no-certificates';
  return { kind: 'grpc', name, implementation, language, version, features, defects, warnings, ...(withheld.size > 0 ? { withheld } : {}) };
}

/** Why a client with this profile is not sent a feature, in words for the degraded list. */
export function grpcMissingReason(profile: GrpcProfile, feature: GrpcFeature): string {
  const withheld = profile.withheld?.get(feature);
  if (withheld) return withheld;
  const row = GRPC_CAPABILITIES.find((r) => r.feature === feature);
  if (!row) return 'not supported';
  const broken = profile.implementation ? row.broken?.[profile.implementation] : undefined;
  if (broken) return `not sent to ${profile.implementation}: ${broken}`;
  const since = profile.implementation ? row.since[profile.implementation] : undefined;
  if (!profile.implementation) return `not in the subset every gRPC implementation is proven to honour (gRFC ${row.grfc})`;
  if (!since || (profile.implementation === 'grpc-core' && row.coreExcept?.includes(profile.language as CoreLanguage)))
    return `${profile.implementation}${profile.implementation === 'grpc-core' ? ` (${profile.language})` : ''} does not implement gRFC ${row.grfc}`;
  return `needs ${profile.implementation} ${since}+ (gRFC ${row.grfc})`;
}
