/** The workload-certificate gauges: one read of the served certificates per scrape feeds both. */
import { describe, expect, it } from 'vitest';
import { Metrics } from '../src/metrics.js';
import { parseSamples, sampleValue } from './support/prometheus-text.js';

describe('workload certificate gauges', () => {
  it('reads the served certificates once per scrape for the earliest expiry and the count', async () => {
    const metrics = new Metrics();
    let reads = 0;
    let served = [Date.UTC(2030, 0, 2), Date.UTC(2030, 0, 1), Date.UTC(2030, 0, 3)];
    metrics.watchCertificates({
      expiries: () => {
        reads++;
        return served;
      },
      trustBundleRoots: () => 1,
    });
    let samples = parseSamples(await metrics.registry.metrics());
    expect(reads).toBe(1);
    expect(sampleValue(samples, 'meshcp_certificates_served', {})).toBe(3);
    expect(sampleValue(samples, 'meshcp_certificate_expiry_earliest_timestamp_seconds', {})).toBe(Date.UTC(2030, 0, 1) / 1000);

    // The next scrape reads again: certificates renewed or forgotten since show at once.
    served = [];
    samples = parseSamples(await metrics.registry.metrics());
    expect(reads).toBe(2);
    expect(sampleValue(samples, 'meshcp_certificates_served', {})).toBe(0);
    // With none served the earliest expiry is absent, not 0 (which an expiry alert would read as long expired).
    expect(samples.some((sample) => sample.name === 'meshcp_certificate_expiry_earliest_timestamp_seconds')).toBe(false);
  });
});
