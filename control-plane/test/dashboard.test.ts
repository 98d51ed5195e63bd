/**
 * The Grafana dashboard shipped in the chart asks only for what meshcp exports: every
 * metric in every query is scraped from a running control plane's /metrics after traffic,
 * and every label a query groups by is one of that metric's labels (or a scrape target's).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLUSTER } from '@meshcp/xds-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../src/control-plane.js';
import { ENVOY_NODE, serviceYaml } from './fixtures.js';
import { XdsTestClient } from './xds-client.js';

const DASHBOARD = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'k8s', 'chart', 'meshcp', 'dashboards', 'meshcp.json');
/** Labels Prometheus adds to every series from the scrape target (the ServiceMonitor's pod, namespace, ...). */
const TARGET_LABELS = new Set(['pod', 'instance', 'job', 'namespace', 'service', 'container', 'endpoint']);
const PROMQL_WORDS = new Set(['sum', 'by', 'without', 'rate', 'increase', 'histogram_quantile', 'max', 'min', 'avg', 'count', 'topk', 'on', 'ignoring', 'le']);

interface Panel {
  title: string;
  targets?: { expr: string }[];
}

/** Histograms are exported as name_bucket / _sum / _count. */
function familyOf(series: string, families: ReadonlySet<string>): string | undefined {
  if (families.has(series)) return series;
  const base = series.replace(/_(bucket|sum|count)$/, '');
  return families.has(base) ? base : undefined;
}

describe('the Grafana dashboard in the chart', () => {
  let plane: ControlPlane;
  let client: XdsTestClient;
  let exposition = '';

  beforeAll(async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'meshcp-dashboard-')), 'mesh.yaml');
    writeFileSync(file, serviceYaml('a', [1001]));
    plane = new ControlPlane({ file, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', debounceQuietMs: 20 });
    await plane.start();
    // Traffic: a proxy connects, ACKs, takes a change, NACKs it.
    client = new XdsTestClient(plane.xdsPort);
    client.send({ node: ENVOY_NODE, type_url: CLUSTER });
    const first = await client.next();
    client.send({ type_url: CLUSTER, version_info: first.version_info, response_nonce: first.nonce });
    writeFileSync(file, `${serviceYaml('a', [1001])}---\n${serviceYaml('b', [1002])}`);
    const second = await client.next();
    client.send({ type_url: CLUSTER, version_info: first.version_info, response_nonce: second.nonce, error_detail: { code: 3, message: 'no' } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    exposition = await (await fetch(`http://127.0.0.1:${plane.adminPort}/metrics`)).text();
  });

  afterAll(async () => {
    client.close();
    await plane.stop();
  });

  it('queries only metrics meshcp exports, grouped by labels they have', async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
    const families = new Set([...exposition.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string));
    const labelsOf = new Map<string, string[]>();
    for (const metric of plane.metrics.registry.getMetricsAsArray()) {
      labelsOf.set(metric.name, (metric as unknown as { labelNames?: string[] }).labelNames ?? []);
    }
    const used = new Set<string>();
    const exprs = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ title: panel.title, expr: target.expr })));
    expect(exprs.length).toBeGreaterThanOrEqual(6);
    for (const { title, expr } of exprs) {
      // Identifiers outside label matchers, quotes and range brackets.
      const bare = expr
        .replace(/\{[^}]*\}/g, '')
        .replace(/"[^"]*"/g, '')
        .replace(/\[[^\]]*\]/g, '');
      const groupings = [...bare.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) => (m[1] ?? '').split(',').map((l) => l.trim()));
      const identifiers = [...bare.replace(/\b(?:by|without)\s*\([^)]*\)/g, '').matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)].map((m) => m[0]);
      const series = identifiers.filter((word) => !PROMQL_WORDS.has(word));
      expect(series.length, `${title}: ${expr} names no metric`).toBeGreaterThan(0);
      const queried: string[] = [];
      for (const name of series) {
        const family = familyOf(name, families);
        expect(family, `${title}: ${name} is not exported by meshcp`).toBeDefined();
        if (family) {
          queried.push(family);
          used.add(family);
        }
      }
      for (const label of groupings) {
        if (label === 'le' || TARGET_LABELS.has(label)) continue;
        expect(
          queried.some((family) => labelsOf.get(family)?.includes(label)),
          `${title}: groups by ${label}, which none of ${queried.join(', ')} has`,
        ).toBe(true);
      }
    }
    // The panels the operators asked for are there.
    for (const family of [
      'meshcp_proxies',
      'meshcp_proxy_convergence_seconds',
      'meshcp_xds_nacks_total',
      'meshcp_resources_rejected_total',
      'meshcp_xds_streams',
      'meshcp_xds_auth_failures_total',
    ]) {
      expect(used, family).toContain(family);
    }
  });
});
