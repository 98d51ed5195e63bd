/**
 * Every default of the mesh model, in one place: the manifest parser (file source
 * and CRDs), the native Kubernetes Service mapping and the MeshService CRD's
 * documentation all take them from here. k8s/test/crd.test.ts fails when the CRD
 * documents a default that differs from `documentedDefaults()`.
 */
import type { EndpointHealth, LoadBalancing, LocalityLabel, MtlsMode, Protocol } from './types.js';

export const DEFAULTS = {
  portProtocol: 'HTTP' as Protocol,
  endpointHealth: 'Healthy' as EndpointHealth,
  /** Most specific first: same zone → P0, same region → P1, the rest → P2. */
  localityPriority: ['zone', 'region'] as readonly LocalityLabel[],
  loadBalancing: 'RoundRobin' as LoadBalancing,
  connectTimeoutMs: 1000,
  healthCheck: { path: '/', intervalMs: 5000, timeoutMs: 1000, unhealthyThreshold: 2, healthyThreshold: 1 },
  outlierDetection: { consecutive5xx: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 50 },
  backendWeight: 1,
  retryAttempts: 1,
  serviceAccount: 'default',
  /** Opt-in for now: sidecars without SDS-capable identity (the plaintext setups of earlier releases) keep working. */
  mtlsMode: 'DISABLE' as MtlsMode,
  /** MeshConfig spec.tracing.samplingPercent: Istio's default share of new traces. */
  tracingSamplingPercent: 1,
} as const;

/** Milliseconds as the manifests write durations ("1s", "250ms", "1m"). */
export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * The defaults as a MeshService manifest would spell them, by spec field path
 * (list items written as `ports[]`): what the CRD's `default:` entries and
 * "(default …)" descriptions must say.
 */
export function documentedDefaults(): Record<string, string> {
  const d = DEFAULTS;
  return {
    'ports[].protocol': d.portProtocol,
    'endpoints[].health': d.endpointHealth,
    'failover.localityPriority': `[${d.localityPriority.join(', ')}]`,
    loadBalancing: d.loadBalancing,
    serviceAccount: d.serviceAccount,
    'mtls.mode': d.mtlsMode,
    connectTimeout: formatDuration(d.connectTimeoutMs),
    'healthCheck.path': `"${d.healthCheck.path}"`,
    'healthCheck.interval': formatDuration(d.healthCheck.intervalMs),
    'healthCheck.timeout': formatDuration(d.healthCheck.timeoutMs),
    'healthCheck.unhealthyThreshold': String(d.healthCheck.unhealthyThreshold),
    'healthCheck.healthyThreshold': String(d.healthCheck.healthyThreshold),
    'outlierDetection.consecutive5xx': String(d.outlierDetection.consecutive5xx),
    'outlierDetection.interval': formatDuration(d.outlierDetection.intervalMs),
    'outlierDetection.baseEjectionTime': formatDuration(d.outlierDetection.baseEjectionTimeMs),
    'outlierDetection.maxEjectionPercent': String(d.outlierDetection.maxEjectionPercent),
  };
}
