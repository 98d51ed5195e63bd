/**
 * The figures the bench derives itself: Prometheus histogram quantiles and their
 * agreement check, the soak's growth after warm-up, and the PNG it draws.
 */
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { agreement, histogramQuantile, parseHistogram } from '../src/histogram.js';
import { encodePng, plotPng } from '../src/plot.js';
import { soakFigures } from '../src/soak.js';

const METRICS = `# HELP meshcp_proxy_convergence_seconds x
# TYPE meshcp_proxy_convergence_seconds histogram
meshcp_proxy_convergence_seconds_bucket{le="0.01",type="EDS"} 0
meshcp_proxy_convergence_seconds_bucket{le="0.025",type="EDS"} 50
meshcp_proxy_convergence_seconds_bucket{le="0.05",type="EDS"} 100
meshcp_proxy_convergence_seconds_bucket{le="+Inf",type="EDS"} 100
meshcp_proxy_convergence_seconds_bucket{le="0.01",type="CDS"} 7
meshcp_proxy_convergence_seconds_bucket{le="+Inf",type="CDS"} 9
meshcp_proxy_convergence_seconds_sum{type="EDS"} 2.5
`;

describe('histogram quantiles', () => {
  it('reads one label set and interpolates inside the bucket like histogram_quantile', () => {
    const buckets = parseHistogram(METRICS, 'meshcp_proxy_convergence_seconds', { type: 'EDS' });
    expect(buckets.map((b) => b.count)).toEqual([0, 50, 100, 100]);
    // rank 50 of 100 is the top of the (0.01, 0.025] bucket.
    expect(histogramQuantile(buckets, 0.5)).toMatchObject({ lower: 0.01, upper: 0.025, total: 100 });
    expect(histogramQuantile(buckets, 0.5).value).toBeCloseTo(0.025, 9);
    // rank 99: 49 of the 50 in (0.025, 0.05].
    expect(histogramQuantile(buckets, 0.99).value).toBeCloseTo(0.025 + 0.025 * (49 / 50), 9);
    expect(histogramQuantile([], 0.5).value).toBeUndefined();
  });

  it('agrees within the bucket width, and not beyond it', () => {
    const buckets = parseHistogram(METRICS, 'meshcp_proxy_convergence_seconds', { type: 'EDS' });
    expect(agreement(buckets, 0.99, 40).agrees).toBe(true); // 49.5 ms vs 40 ms, bucket 25 ms wide
    expect(agreement(buckets, 0.99, 10).agrees).toBe(false); // 39.5 ms apart
    // Through the same buckets the load generator's own counts give the same quantile: agreement.
    const same = buckets.map((b) => ({ ...b }));
    expect(agreement(buckets, 0.99, 10, same)).toMatchObject({ agrees: true, loadgenBucketedMs: expect.closeTo(49.5, 6) });
  });
});

describe('soak figures', () => {
  const sample = (atS: number, rssMB: number, cpuS: number) => ({ atMs: atS * 1000, rssKB: rssMB * 1024, cpuSeconds: cpuS, streams: 10, reconnects: 0 });

  it('measures RSS growth from the level after warm-up to the end of the churn', () => {
    const samples = [
      sample(0, 100, 0),
      sample(10, 300, 5),
      sample(20, 400, 10),
      sample(30, 400, 15),
      sample(40, 410, 20),
      sample(50, 420, 25),
      sample(60, 440, 30),
    ];
    const f = soakFigures(samples, 10, 60, 10);
    expect(f.warmupEndS).toBe(20);
    expect(f.rssAfterWarmupMB).toBeCloseTo((400 + 400 + 410) / 3, 6); // samples in [20 s, 50 s)
    expect(f.rssEndMB).toBeCloseTo((410 + 420 + 440) / 3, 6);
    expect(f.rssGrowth).toBeCloseTo(f.rssEndMB / f.rssAfterWarmupMB - 1, 9);
    expect(f.rssPeakGrowth).toBeCloseTo(440 / (1210 / 3) - 1, 9);
    expect(f.cpuPercentMean).toBeCloseTo(50, 6); // 25 CPU s over 50 s
  });
});

describe('png', () => {
  it('encodes a valid RGB PNG whose pixels are what was drawn', () => {
    const rgb = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]);
    const png = encodePng(2, 2, rgb);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.readUInt32BE(16)).toBe(2); // IHDR width
    const idatAt = png.indexOf('IDAT');
    const raw = inflateSync(png.subarray(idatAt + 4, idatAt + 4 + png.readUInt32BE(idatAt - 4)));
    expect([...raw]).toEqual([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 10, 20, 30]); // filter byte 0, then each row
  });

  it('plots a series: the line colour appears in the image', () => {
    const png = plotPng(
      [
        {
          title: 'rss (mb)',
          series: [
            {
              label: 'rss',
              color: [1, 2, 3],
              points: [
                { x: 0, y: 1 },
                { x: 1, y: 2 },
              ],
            },
          ],
        },
      ],
      'minutes',
      200,
      120,
    );
    const idatAt = png.indexOf('IDAT');
    const raw = inflateSync(png.subarray(idatAt + 4, idatAt + 4 + png.readUInt32BE(idatAt - 4)));
    expect(raw.length).toBe((200 * 3 + 1) * 120);
    expect(raw.indexOf(Buffer.from([1, 2, 3]))).toBeGreaterThan(0);
  });
});
