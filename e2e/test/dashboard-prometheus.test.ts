/**
 * The chart's Grafana dashboard against a real Prometheus (built from its Go module by
 * e2e/scripts/build-prometheus.sh; Grafana itself is AGPL and not available here).
 * `meshcp serve --workers 2` (file source, TLS with its own CA) serves a small real fleet:
 * Envoys of the oldest and newest supported release with SVIDs, an Envoy whose node claims
 * another namespace than its SVID (refused: auth failures), and a grpc-js ADS client that
 * NACKs every CDS response; the mesh changes a few times (convergence, push, translation)
 * and once holds an object meshcp rejects. Prometheus scrapes /metrics every second; then
 * every query of every panel goes through Prometheus's query_range with the template
 * variables substituted as Grafana does, and must parse and, unless listed in MAY_BE_EMPTY
 * with the reason, return data. MESHCP_DASHBOARD_RENDER=1 (`npm run dashboard:render`)
 * also draws the panels from those results in headless Chromium into docs/dashboard.png.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { envoyBootstrap } from '@meshcp/translators';
import { CLUSTER, decodeDiscoveryResponse, ENVOY_RELEASES, encodeDiscoveryRequest } from '@meshcp/xds-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePng, screenshot } from '../../compat-matrix/test/chromium.js';
import {
  type Dashboard,
  type DashboardPanel,
  dashboardHeightPx,
  finitePoints,
  interpolate,
  loadDashboard,
  renderDashboardHtml,
  runDashboard,
  type TargetResult,
} from '../src/dashboard.js';
import {
  Cleanup,
  freePort,
  meshYaml,
  NEWEST_ENVOY,
  REPO_ROOT,
  type SecureMeshcp,
  startEnvoy,
  startProcess,
  startSecureMeshcp,
  startUpstream,
  tempDir,
  waitFor,
} from '../src/harness.js';

const SCRAPE_INTERVAL_MS = 1000;
const OLDEST_ENVOY = ENVOY_RELEASES[0] as string;
const RENDER = process.env.MESHCP_DASHBOARD_RENDER === '1';
const SCREENSHOT = join(REPO_ROOT, 'docs', 'dashboard.png');

/** Targets ("panel title/refId") that may legitimately return no series here, and why. */
const MAY_BE_EMPTY: Record<string, string> = {
  'Rejected resources and objects/A':
    'meshcp_resources_rejected_total counts translated resources that fail validation; a mesh file cannot produce one (the source object meshcp rejects shows in B)',
};

/** Reads CDS like a proxy and refuses every response: the NACK panel's data. TLS with its workload's SVID. */
class NackingClient {
  nacks = 0;
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;

  constructor(xdsPort: number, svid: { caFile: string; certFile: string; keyFile: string }) {
    this.client = new grpc.Client(
      `127.0.0.1:${xdsPort}`,
      grpc.credentials.createSsl(readFileSync(svid.caFile), readFileSync(svid.keyFile), readFileSync(svid.certFile)),
    );
    const raw = (b: Buffer) => b;
    this.call = this.client.makeBidiStreamRequest('/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', raw, raw);
    const { node } = envoyBootstrap({
      nodeId: 'nacker',
      service: 'nacker',
      namespace: 'shop',
      serviceAccount: 'nacker',
      xdsAddress: `127.0.0.1:${xdsPort}`,
    }) as {
      node: Record<string, unknown>;
    };
    this.call.on('data', (bytes: Buffer) => {
      const response = decodeDiscoveryResponse(bytes);
      this.nacks++;
      this.call.write(
        encodeDiscoveryRequest({
          type_url: CLUSTER,
          // Never accepted one: the version it holds stays empty.
          version_info: '',
          response_nonce: response.nonce ?? '',
          error_detail: { code: 3, message: `test client refuses CDS version ${response.version_info}` },
        }),
      );
    });
    this.call.on('error', () => undefined);
    this.call.write(encodeDiscoveryRequest({ node: { ...node, user_agent_name: 'grpc-js-nacker' }, type_url: CLUSTER }));
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

interface RunningPrometheus {
  url: string;
  output: () => string;
}

async function startPrometheus(binary: string, adminPort: number, cleanup: Cleanup): Promise<RunningPrometheus> {
  const dir = tempDir('prometheus', cleanup);
  const port = await freePort();
  const seconds = `${SCRAPE_INTERVAL_MS / 1000}s`;
  // The labels a Prometheus Operator ServiceMonitor puts on every series of a target (the
  // chart's servicemonitor.yaml); the streams-per-replica panel groups by pod.
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global: {scrape_interval: ${seconds}, scrape_timeout: ${seconds}, evaluation_interval: ${seconds}}
scrape_configs:
  - job_name: meshcp
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:${adminPort}']
        labels: {namespace: meshcp, pod: meshcp-0, service: meshcp, endpoint: http-admin}
`,
  );
  const proc = startProcess(
    binary,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    cleanup,
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    `Prometheus /-/ready on ${port} (output: ${proc.output().slice(-800)})`,
    async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok,
    60_000,
  );
  return { url, output: proc.output };
}

/** An instant query's first value, or undefined. */
async function instant(prometheus: RunningPrometheus, expr: string): Promise<number | undefined> {
  const json = (await (await fetch(`${prometheus.url}/api/v1/query?${new URLSearchParams({ query: expr })}`)).json()) as {
    data?: { result: { value: [number, string] }[] };
  };
  const value = json.data?.result[0]?.value[1];
  return value === undefined ? undefined : Number(value);
}

/** What is wrong with the results: a query Prometheus refused, or no data where data is expected. */
function problems(results: TargetResult[], mayBeEmpty: Record<string, string>): string[] {
  const found: string[] = [];
  for (const result of results) {
    const key = `${result.panel.title}/${result.target.refId}`;
    if (result.error) found.push(`${key}: Prometheus refused ${result.expr}: ${result.error}`);
    else if (!(key in mayBeEmpty) && !result.series.some((series) => finitePoints(series).length > 0)) found.push(`${key}: no data for ${result.expr}`);
  }
  return found;
}

describe("the chart's dashboard against a real Prometheus scraping meshcp", () => {
  const cleanup = new Cleanup();
  let dashboard: Dashboard;
  let meshcp: SecureMeshcp;
  let prometheus: RunningPrometheus;
  let window: { fromMs: number; toMs: number; scrapeIntervalMs: number };
  let results: TargetResult[];

  const proxies = async () =>
    ((await (await meshcp.admin('/debug/proxies')).json()) as { proxies: { nodeId: string; types: Record<string, { status: string }> }[] }).proxies;
  const synced = async (nodeIds: string[]) => {
    const all = await proxies();
    return nodeIds.every((id) => {
      const types = Object.values(all.find((p) => p.nodeId === id)?.types ?? {});
      return types.length > 0 && types.every((t) => t.status === 'SYNCED');
    });
  };

  beforeAll(async () => {
    dashboard = loadDashboard(REPO_ROOT);
    const binary = execFileSync('bash', [join(REPO_ROOT, 'e2e/scripts/build-prometheus.sh')], { encoding: 'utf8', timeout: 1_800_000 }).trim();
    const upstreams = await Promise.all(['echo-1', 'echo-2', 'echo-3'].map((name) => startUpstream(name, cleanup)));
    const file = join(tempDir('dashboard', cleanup), 'mesh.yaml');
    const services = (count: number) =>
      upstreams.slice(0, count).map((upstream, i) => ({ name: i === 0 ? 'echo' : `echo-${i + 1}`, endpoints: [{ port: upstream.port }] }));
    writeFileSync(file, meshYaml(services(1)));
    meshcp = await startSecureMeshcp(file, cleanup, ['--workers', '2']);
    prometheus = await startPrometheus(binary, meshcp.adminPort, cleanup);
    const fromMs = Date.now();
    await waitFor('Prometheus scraped meshcp', async () => ((await instant(prometheus, 'up{job="meshcp"}')) === 1 ? true : undefined), 30_000);

    // The fleet: two Envoy releases with SVIDs of their workloads, a NACKing client, an impostor.
    const fleet = [
      { nodeId: `web-${OLDEST_ENVOY}`, version: OLDEST_ENVOY, serviceAccount: 'web', delta: true },
      { nodeId: `web-${NEWEST_ENVOY}`, version: NEWEST_ENVOY, serviceAccount: 'web', delta: false },
      { nodeId: `cart-${NEWEST_ENVOY}`, version: NEWEST_ENVOY, serviceAccount: 'cart', delta: false },
    ];
    const envoys = await Promise.all(
      fleet.map(async (p) =>
        startEnvoy(
          {
            xdsPort: meshcp.xdsPort,
            version: p.version,
            nodeId: p.nodeId,
            namespace: 'shop',
            serviceAccount: p.serviceAccount,
            delta: p.delta,
            security: await meshcp.identity('shop', p.serviceAccount),
          },
          cleanup,
        ),
      ),
    );
    const nacker = new NackingClient(meshcp.xdsPort, await meshcp.identity('shop', 'nacker'));
    cleanup.add(() => nacker.close());
    await startEnvoy(
      {
        xdsPort: meshcp.xdsPort,
        nodeId: 'impostor',
        namespace: 'payments',
        serviceAccount: 'web',
        security: await meshcp.identity('shop', 'web'),
        waitLive: false,
      },
      cleanup,
    );
    const nodeIds = fleet.map((p) => p.nodeId);
    await waitFor('every Envoy SYNCED', async () => ((await synced(nodeIds)) ? true : undefined), 60_000);

    // Changes for the convergence, push and translation panels, one scrape or more apart.
    for (const count of [2, 3]) {
      writeFileSync(file, meshYaml(services(count)));
      const name = `echo-${count}`;
      for (const envoy of envoys) await waitFor(`Envoy routes to ${name}`, async () => ((await envoy.request(name)).body === name ? true : undefined));
      await waitFor('every Envoy SYNCED', async () => ((await synced(nodeIds)) ? true : undefined));
      await new Promise((resolve) => setTimeout(resolve, 3 * SCRAPE_INTERVAL_MS));
    }
    // A source object meshcp rejects (a port that is no port) next to the valid ones: the rest keeps serving.
    writeFileSync(file, meshYaml(services(3), meshYaml([{ name: 'broken', port: 70_000, endpoints: [{ port: 1 }] }])));
    await waitFor(
      'Prometheus sees the rejected object and the NACKs',
      async () =>
        (await instant(prometheus, 'meshcp_config_errors')) === 1 && ((await instant(prometheus, 'sum(meshcp_xds_nacks_total)')) ?? 0) >= 2 ? true : undefined,
      30_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 3 * SCRAPE_INTERVAL_MS));
    window = { fromMs, toMs: Date.now(), scrapeIntervalMs: SCRAPE_INTERVAL_MS };
    results = await runDashboard(dashboard, prometheus.url, window);
  }, 1_800_000);

  afterAll(() => cleanup.run());

  it('runs every query of every panel', () => {
    const targets = dashboard.panels.flatMap((panel) => panel.targets ?? []);
    expect(targets.length).toBeGreaterThanOrEqual(10);
    expect(results.map((r) => r.target)).toEqual(targets);
    for (const key of Object.keys(MAY_BE_EMPTY)) expect(results.map((r) => `${r.panel.title}/${r.target.refId}`)).toContain(key);
  });

  it('every query parses and every panel shows data, except the ones listed with a reason', () => {
    expect(problems(results, MAY_BE_EMPTY)).toEqual([]);
  });

  it('the panels show this fleet', () => {
    const seriesOf = (title: string, refId = 'A') => results.find((r) => r.panel.title === title && r.target.refId === refId)?.series ?? [];
    const last = (series: { values: [number, string][] }) => Number(series.values.at(-1)?.[1]);
    // Fleet by version: the two Envoy releases, with 1 and 2 proxies.
    const fleet = seriesOf('Fleet by version and profile').filter((s) => s.metric.client_kind === 'envoy');
    expect(Object.fromEntries(fleet.map((s) => [s.metric.version, last(s)]))).toMatchObject({ [OLDEST_ENVOY]: 1, [NEWEST_ENVOY]: 2 });
    // Streams per replica: the pod label the ServiceMonitor adds, both modes.
    const replicas = seriesOf('Streams per replica');
    expect(new Set(replicas.map((s) => s.metric.pod))).toEqual(new Set(['meshcp-0']));
    expect(new Set(replicas.map((s) => s.metric.mode))).toEqual(new Set(['sotw', 'delta']));
    expect(seriesOf('NACK rate').map((s) => s.metric.type)).toContain('CDS');
    expect(seriesOf('Auth failures').map((s) => s.metric.reason)).toContain('namespace-mismatch');
    expect(last(seriesOf('Rejected resources and objects', 'B')[0] ?? { values: [] })).toBe(1);
    expect(seriesOf('Proxy convergence p50 / p99', 'B').map((s) => s.metric.type)).toContain('CDS');
  });

  it('the check fails on a query Prometheus refuses and on one that names no exported metric', async () => {
    const broken = structuredClone(dashboard);
    const [first, second] = broken.panels;
    if (!first?.targets?.[0] || !second?.targets?.[0]) throw new Error('the dashboard has fewer than two panels with targets');
    first.targets[0].expr = first.targets[0].expr.replace('sum by', 'sum bye');
    second.targets[0].expr = second.targets[0].expr.replace('meshcp_proxy_convergence_seconds_bucket', 'meshcp_proxy_convergence_second_bucket');
    const found = problems(await runDashboard({ ...broken, panels: [first, second] }, prometheus.url, window), MAY_BE_EMPTY);
    expect(found).toHaveLength(2);
    expect(found[0]).toMatch(new RegExp(`^${first.title}/A: Prometheus refused .*bad_data: .*parse error`));
    expect(found[1]).toBe(`${second.title}/A: no data for ${interpolate(second.targets[0].expr, second, broken, { ...window, widthPx: 800 }).expr}`);
  });

  it("substitutes Grafana's variables as Grafana documents them", () => {
    // The chart's defaults: 30 s scrapes, the dashboard's 6 h range, a half-width panel (800 px).
    const panel: DashboardPanel = { ...(dashboard.panels[0] as DashboardPanel), targets: [] };
    const withVariable: Dashboard = {
      ...dashboard,
      templating: { list: [...(dashboard.templating?.list ?? []), { name: 'job', type: 'custom', current: { value: 'meshcp' } }] },
    };
    const sixHours = { fromMs: 0, toMs: 6 * 3_600_000, widthPx: 800, scrapeIntervalMs: 30_000 };
    // 6 h / 800 points = 27 s, rounded to 30 s; rate window = max(30 s + 30 s, 4 × 30 s).
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's ${name} variable syntax, not a JavaScript template.
    expect(interpolate('rate(x{job="$job"}[$__rate_interval]) / ${__interval} $__range [[job]]', panel, withVariable, sixHours)).toEqual({
      expr: 'rate(x{job="meshcp"}[2m]) / 30s 21600s meshcp',
      stepMs: 30_000,
    });
    // A week at 1 s scrapes: 756 s per point, rounded to 15 m; the rate window grows with it (a fixed [5m] would skip data).
    expect(interpolate('rate(x[$__rate_interval])', panel, dashboard, { ...sixHours, toMs: 7 * 86_400_000, scrapeIntervalMs: 1_000 })).toEqual({
      expr: 'rate(x[901s])',
      stepMs: 900_000,
    });
    expect(() => interpolate('rate(x[$nope])', panel, dashboard, sixHours)).toThrow(/\$nope .* is neither a Grafana built-in nor a dashboard variable/);
  });

  it.runIf(RENDER)(
    'renders the panels from the Prometheus results in headless Chromium into docs/dashboard.png',
    async () => {
      const caption = `Rendered by meshcp's own panel renderer (e2e/src/dashboard.ts) from a real Prometheus scraping meshcp serve --workers 2 with a test fleet; not Grafana. ${new Date(window.fromMs).toISOString()} – ${new Date(window.toMs).toISOString()}`;
      const html = join(tempDir('dashboard-render', cleanup), 'dashboard.html');
      writeFileSync(html, renderDashboardHtml(dashboard, results, window, caption));
      const png = await screenshot(html, 1600, dashboardHeightPx(dashboard));
      const image = decodePng(png);
      expect([image.width, image.height]).toEqual([1600, dashboardHeightPx(dashboard)]);
      // Data lines in the palette's first colour (green) are drawn, not only empty frames.
      let green = 0;
      for (let i = 0; i < image.pixels.length; i += 4) {
        if (image.pixels[i] === 0x73 && image.pixels[i + 1] === 0xbf && image.pixels[i + 2] === 0x69) green++;
      }
      expect(green).toBeGreaterThan(500);
      writeFileSync(SCREENSHOT, png);
    },
    120_000,
  );
});
