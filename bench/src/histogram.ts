/**
 * Reading a Prometheus histogram from a metrics page, and its quantiles the way
 * Prometheus' `histogram_quantile` computes them (linear interpolation inside the
 * bucket the rank falls in). The bench compares meshcp's own
 * `meshcp_proxy_convergence_seconds` with the load generator's change → ACK figures.
 */

export interface Bucket {
  /** Upper bound (seconds); Infinity for `+Inf`. */
  le: number;
  /** Cumulative count. */
  count: number;
}

/** The cumulative buckets of `name` whose labels include every pair of `labels`, summed over the other labels. */
export function parseHistogram(text: string, name: string, labels: Record<string, string> = {}): Bucket[] {
  const byLe = new Map<number, number>();
  const line = new RegExp(`^${name}_bucket\\{([^}]*)\\}\\s+([0-9.eE+-]+|NaN)`);
  for (const row of text.split('\n')) {
    const m = line.exec(row);
    if (!m) continue;
    const pairs = new Map<string, string>();
    for (const p of (m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) pairs.set(p[1] ?? '', p[2] ?? '');
    if (Object.entries(labels).some(([k, v]) => pairs.get(k) !== v)) continue;
    const leText = pairs.get('le');
    if (leText === undefined) continue;
    const le = leText === '+Inf' ? Number.POSITIVE_INFINITY : Number(leText);
    byLe.set(le, (byLe.get(le) ?? 0) + Number(m[2]));
  }
  return [...byLe.entries()].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

export interface Quantile {
  /** Interpolated value (seconds); undefined for an empty histogram. */
  value?: number;
  /** The bucket the rank falls in. */
  lower: number;
  upper: number;
  total: number;
}

/** `histogram_quantile(q, …)`: linear interpolation inside the bucket; the +Inf bucket yields its lower bound. */
export function histogramQuantile(buckets: readonly Bucket[], q: number): Quantile {
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return { lower: 0, upper: 0, total };
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank && b.count > prevCount) {
      if (!Number.isFinite(b.le)) return { value: prevLe, lower: prevLe, upper: b.le, total };
      const value = prevLe + ((b.le - prevLe) * (rank - prevCount)) / (b.count - prevCount);
      return { value, lower: prevLe, upper: b.le, total };
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return { value: prevLe, lower: prevLe, upper: prevLe, total };
}

export interface Agreement {
  q: number;
  /** The load generator's exact percentile. */
  loadgenMs: number;
  /** The load generator's latencies through the same buckets and interpolation as the server's histogram. */
  loadgenBucketedMs?: number;
  histogramMs?: number;
  bucketMs: [number, number];
  /** |loadgen (bucketed) − histogram| ≤ the width of the histogram's bucket. */
  agrees: boolean;
}

/**
 * Compares the server's histogram with the load generator's latencies at quantile q.
 * Both go through the same buckets and interpolation when the load generator counted
 * them over the same bounds (`loadgenBuckets`); else its exact value is compared.
 */
export function agreement(buckets: readonly Bucket[], q: number, loadgenMs: number, loadgenBuckets?: readonly Bucket[]): Agreement {
  const h = histogramQuantile(buckets, q);
  const histogramMs = h.value === undefined ? undefined : h.value * 1000;
  const width = (h.upper - h.lower) * 1000;
  const own = loadgenBuckets ? histogramQuantile(loadgenBuckets, q).value : undefined;
  const loadgenBucketedMs = own === undefined ? undefined : own * 1000;
  const compared = loadgenBucketedMs ?? loadgenMs;
  return {
    q,
    loadgenMs,
    ...(loadgenBucketedMs !== undefined ? { loadgenBucketedMs } : {}),
    ...(histogramMs !== undefined ? { histogramMs } : {}),
    bucketMs: [h.lower * 1000, h.upper * 1000],
    agrees: histogramMs !== undefined && Number.isFinite(width) && Math.abs(compared - histogramMs) <= width,
  };
}
