/**
 * What proxyless gRPC clients honour, per language, by client version. Versions
 * are of the gRPC library the node reports (`user_agent_version`). Rows are
 * conservative: `since` is the oldest version we have verified, not the first
 * that shipped the feature.
 */
import type { Capability, ClientProfile } from '../envoy/capabilities.js';
import { compareVersions, type ProxyInfo, parseVersion, type Version } from '../proxy.js';

export type GrpcCapability =
  | 'eds.localityWeightRequired'
  | 'route.weightedClusters'
  | 'route.maxStreamDuration'
  | 'route.retryPolicy'
  | 'cluster.ringHash'
  | 'cluster.outlierDetection'
  | 'cluster.circuitBreakers';

export type GrpcProfile = ClientProfile<GrpcCapability>;

const GRPC_JS_XDS_README = '@grpc/grpc-js-xds 1.14.1 README, "Supported Features"';

/** Rows for gRPC Node (`@grpc/grpc-js-xds`), keyed by feature. */
export const GRPC_NODE_CAPABILITIES: readonly Capability<GrpcCapability>[] = [
  // A requirement rather than a feature: every gRPC version drops localities that carry no weight.
  {
    feature: 'eds.localityWeightRequired',
    since: '0.0.0',
    onOlder: 'different-default',
    source: 'gRFC A27: localities with no load_balancing_weight are ignored',
    proof: 'e2e/test/grpc-proxyless.test.ts',
  },
  {
    feature: 'route.weightedClusters',
    since: '1.14.0',
    onOlder: 'nacked',
    source: `${GRPC_JS_XDS_README}: gRFC A28`,
    proof: 'e2e/test/grpc-proxyless.test.ts',
  },
  { feature: 'route.maxStreamDuration', since: '1.14.0', onOlder: 'dropped', source: `${GRPC_JS_XDS_README}: gRFC A31` },
  { feature: 'route.retryPolicy', since: '1.14.0', onOlder: 'dropped', source: `${GRPC_JS_XDS_README}: gRFC A44` },
  { feature: 'cluster.ringHash', since: '1.14.0', onOlder: 'nacked', source: `${GRPC_JS_XDS_README}: gRFC A42` },
  { feature: 'cluster.outlierDetection', since: '1.14.0', onOlder: 'dropped', source: `${GRPC_JS_XDS_README}: gRFC A50` },
  { feature: 'cluster.circuitBreakers', since: '1.14.0', onOlder: 'dropped', source: `${GRPC_JS_XDS_README}: gRFC A32 (max_requests only)` },
];

/** Other gRPC languages are served the common subset until their rows are verified. */
const TABLES: Record<string, readonly Capability<GrpcCapability>[]> = { 'grpc-node': GRPC_NODE_CAPABILITIES };

export function grpcProfile(proxy: Pick<ProxyInfo, 'clientKind' | 'version' | 'versionText'>): GrpcProfile {
  const table = TABLES[proxy.clientKind] ?? [];
  const warnings: string[] = [];
  if (table.length === 0) warnings.push(`no capability rows for ${proxy.clientKind} yet: serving the subset every gRPC xDS client supports`);
  if (!proxy.version) warnings.push(`unknown ${proxy.clientKind} version ${JSON.stringify(proxy.versionText)}: serving the conservative subset`);
  const features = new Set(
    table
      .filter((row) => {
        const since = parseVersion(row.since);
        return proxy.version !== undefined && since !== undefined && compareVersions(proxy.version, since) >= 0;
      })
      .map((row) => row.feature),
  );
  // Named by the newest row boundary crossed, as Envoy profiles are.
  const crossed = table.filter((row) => features.has(row.feature)).map((row) => row.since);
  const boundary = crossed.sort((a, b) => compareVersions(parseVersion(b) as Version, parseVersion(a) as Version))[0];
  return { name: boundary ? `${proxy.clientKind}-${boundary.split('.').slice(0, 2).join('.')}+` : `${proxy.clientKind}-base`, features, warnings };
}
