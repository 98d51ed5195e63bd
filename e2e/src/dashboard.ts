/**
 * The chart's Grafana dashboard without Grafana (AGPL, not installable here): its panels'
 * queries with the template variables substituted the way Grafana documents them, run
 * against a real Prometheus's HTTP API, and an SVG rendering of every panel laid out by its
 * gridPos from those results. Used by e2e/test/dashboard-prometheus.test.ts, which also
 * writes docs/dashboard.png from it (`npm run dashboard:render`). Pure except `queryRange`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface GridPos {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface DashboardTarget {
  refId: string;
  expr: string;
  legendFormat?: string;
}

export interface DashboardPanel {
  id: number;
  title: string;
  type: string;
  gridPos: GridPos;
  maxDataPoints?: number;
  interval?: string;
  targets?: DashboardTarget[];
  fieldConfig?: { defaults?: { unit?: string } };
}

export interface Dashboard {
  title: string;
  panels: DashboardPanel[];
  templating?: { list: { name: string; type: string; query?: string; current?: { value?: string | string[] } }[] };
}

export function loadDashboard(repoRoot: string): Dashboard {
  return JSON.parse(readFileSync(join(repoRoot, 'k8s', 'chart', 'meshcp', 'dashboards', 'meshcp.json'), 'utf8')) as Dashboard;
}

/** Grafana's dashboard grid: 24 columns; a row unit is 30 px of height plus an 8 px gap. */
export const GRID_COLUMNS = 24;
const ROW_PX = 30;
const GAP_PX = 8;

/** Steps an auto interval is rounded to (a readable step, as Grafana's auto interval does). */
const NICE_STEPS_MS = [
  1, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 20_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000,
  7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
];

/** The nice step closest to `ms` (ties to the smaller). */
export function roundInterval(ms: number): number {
  let best = NICE_STEPS_MS[0] as number;
  for (const step of NICE_STEPS_MS) if (Math.abs(step - ms) < Math.abs(best - ms)) best = step;
  return best;
}

/** A Prometheus duration ("15s", "1m30s") in ms. */
export function parseDuration(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };
  let total = 0;
  let rest = text.trim();
  while (rest) {
    const match = /^(\d+)(ms|s|m|h|d|w|y)/.exec(rest);
    if (!match) throw new Error(`not a duration: ${text}`);
    total += Number(match[1]) * (units[match[2] as string] as number);
    rest = rest.slice(match[0].length);
  }
  return total;
}

/** A duration in the largest whole unit Prometheus accepts ("4s", "2m", "1500ms"). */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

export interface QueryWindow {
  fromMs: number;
  toMs: number;
  /** The panel's width in pixels: Grafana's default maxDataPoints. */
  widthPx: number;
  /** The data source's scrape interval ("min interval"): $__interval never goes below it. */
  scrapeIntervalMs: number;
}

export interface Interpolated {
  expr: string;
  /** The query_range step: $__interval. */
  stepMs: number;
}

/**
 * Substitutes a target's expression as Grafana does before it sends it to Prometheus:
 * $__interval = the panel's auto interval (time range / max data points, rounded, at
 * least the panel's min interval or the scrape interval); $__rate_interval =
 * max($__interval + scrape interval, 4 × scrape interval) (Grafana's documented
 * definition); $__range; and the dashboard's own template variables at their
 * current value (a data source variable names no series and is left to the data source).
 */
export function interpolate(expr: string, panel: DashboardPanel, dashboard: Dashboard, window: QueryWindow): Interpolated {
  const rangeMs = window.toMs - window.fromMs;
  const minIntervalMs = panel.interval ? parseDuration(panel.interval) : window.scrapeIntervalMs;
  const intervalMs = Math.max(minIntervalMs, roundInterval(rangeMs / (panel.maxDataPoints ?? window.widthPx)));
  const rateIntervalMs = Math.max(intervalMs + window.scrapeIntervalMs, 4 * window.scrapeIntervalMs);
  const rangeS = Math.round(rangeMs / 1000);
  const builtins: Record<string, string> = {
    __rate_interval: formatDuration(rateIntervalMs),
    __interval_ms: String(intervalMs),
    __interval: formatDuration(intervalMs),
    __range_ms: String(rangeMs),
    __range_s: String(rangeS),
    __range: `${rangeS}s`,
  };
  const variables = new Map<string, string>();
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type === 'datasource') continue;
    const current = variable.current?.value;
    if (current === undefined) throw new Error(`template variable ${variable.name} has no current value`);
    variables.set(variable.name, Array.isArray(current) ? `(${current.join('|')})` : current);
  }
  const substituted = expr.replace(/\$\{(\w+)\}|\[\[(\w+)\]\]|\$(\w+)/g, (whole, braced?: string, bracketed?: string, bare?: string) => {
    const name = (braced ?? bracketed ?? bare) as string;
    const value = builtins[name] ?? variables.get(name);
    if (value === undefined) throw new Error(`${panel.title}: ${whole} in ${expr} is neither a Grafana built-in nor a dashboard variable`);
    return value;
  });
  return { expr: substituted, stepMs: intervalMs };
}

export interface Series {
  metric: Record<string, string>;
  /** [unix seconds, value as text ("NaN", "+Inf" included)] as Prometheus returns them. */
  values: [number, string][];
}

export interface TargetResult {
  panel: DashboardPanel;
  target: DashboardTarget;
  expr: string;
  /** Prometheus's error (a PromQL parse or evaluation error), if any. */
  error?: string;
  series: Series[];
}

/** Prometheus's query_range over HTTP (what Grafana's Prometheus data source calls). */
export async function queryRange(prometheusUrl: string, expr: string, window: QueryWindow, stepMs: number): Promise<{ error?: string; series: Series[] }> {
  const body = new URLSearchParams({
    query: expr,
    start: String(window.fromMs / 1000),
    end: String(window.toMs / 1000),
    step: String(stepMs / 1000),
  });
  const response = await fetch(`${prometheusUrl}/api/v1/query_range`, { method: 'POST', body });
  const json = (await response.json()) as { status: string; error?: string; errorType?: string; data?: { resultType: string; result: Series[] } };
  if (json.status !== 'success') return { error: `${json.errorType ?? response.status}: ${json.error ?? 'no error text'}`, series: [] };
  return { series: json.data?.result ?? [] };
}

/** Runs every target of every panel; one result per target, in dashboard order. */
export async function runDashboard(dashboard: Dashboard, prometheusUrl: string, window: Omit<QueryWindow, 'widthPx'>, pagePx = 1600): Promise<TargetResult[]> {
  const results: TargetResult[] = [];
  for (const panel of dashboard.panels) {
    const widthPx = Math.round((panel.gridPos.w / GRID_COLUMNS) * pagePx);
    for (const target of panel.targets ?? []) {
      const { expr, stepMs } = interpolate(target.expr, panel, dashboard, { ...window, widthPx });
      results.push({ panel, target, expr, ...(await queryRange(prometheusUrl, expr, { ...window, widthPx }, stepMs)) });
    }
  }
  return results;
}

/** Finite points of a series (Prometheus answers NaN where e.g. a quantile has no observations). */
export function finitePoints(series: Series): [number, number][] {
  return series.values.map(([t, v]) => [t, Number(v)] as [number, number]).filter(([, v]) => Number.isFinite(v));
}

/** A legend as Grafana writes it: {{label}} replaced by the series' label value. */
export function legendOf(target: DashboardTarget, series: Series): string {
  if (!target.legendFormat) return JSON.stringify(series.metric);
  return target.legendFormat.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, label: string) => series.metric[label] ?? '');
}

const PALETTE = ['#73bf69', '#f2cc0c', '#5794f2', '#ff780a', '#b877d9', '#f2495c', '#37872d', '#8ab8ff', '#fade2a', '#c4162a'];

const escapeXml = (text: string) => text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A value on an axis: SI suffixes, or milliseconds/seconds for a panel in seconds. */
function formatValue(value: number, unit: string | undefined): string {
  if (unit === 's') {
    if (value === 0) return '0';
    if (value < 1e-3) return `${(value * 1e6).toPrecision(3)} µs`;
    if (value < 1) return `${(value * 1e3).toPrecision(3)} ms`;
    return `${value.toPrecision(3)} s`;
  }
  if (Math.abs(value) >= 1000) return `${(value / 1000).toPrecision(3)}k`;
  return Number.isInteger(value) ? String(value) : value.toPrecision(3);
}

/** The smallest 1, 2, 2.5 or 5 × 10^k at or above `value` (an axis top that divides into readable ticks). */
function niceCeil(value: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

/** One time-series panel as SVG: axes, one polyline per series, a legend. */
function panelSvg(panel: DashboardPanel, results: TargetResult[], widthPx: number, heightPx: number, window: { fromMs: number; toMs: number }): string {
  const plot = { left: 62, right: widthPx - 14, top: 34, bottom: heightPx - 62 };
  const lines = results.flatMap((result) =>
    result.series.map((series) => ({ legend: legendOf(result.target, series), points: finitePoints(series), refId: result.target.refId })),
  );
  const values = lines.flatMap((line) => line.points.map(([, v]) => v));
  const max = Math.max(0, ...values);
  const min = Math.min(0, ...values);
  const top = max === min ? min + 1 : niceCeil(max * 1.05);
  const x = (t: number) => plot.left + ((t * 1000 - window.fromMs) / (window.toMs - window.fromMs)) * (plot.right - plot.left);
  const y = (v: number) => plot.bottom - ((v - min) / (top - min)) * (plot.bottom - plot.top);
  const parts: string[] = [
    `<rect x="0" y="0" width="${widthPx}" height="${heightPx}" rx="3" fill="#181b1f" stroke="#2c3235"/>`,
    `<text x="10" y="20" fill="#ccccdc" font-size="14" font-weight="500">${escapeXml(panel.title)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = min + ((top - min) * i) / 4;
    parts.push(`<line x1="${plot.left}" x2="${plot.right}" y1="${y(v)}" y2="${y(v)}" stroke="#2c3235"/>`);
    parts.push(
      `<text x="${plot.left - 6}" y="${y(v) + 4}" fill="#8e8e8e" font-size="11" text-anchor="end">${formatValue(v, panel.fieldConfig?.defaults?.unit)}</text>`,
    );
  }
  for (let i = 0; i <= 4; i++) {
    const t = (window.fromMs + ((window.toMs - window.fromMs) * i) / 4) / 1000;
    const label = new Date(t * 1000).toISOString().slice(11, 19);
    const anchor = i === 0 ? 'start' : i === 4 ? 'end' : 'middle';
    parts.push(`<text x="${x(t)}" y="${plot.bottom + 15}" fill="#8e8e8e" font-size="11" text-anchor="${anchor}">${label}</text>`);
  }
  if (lines.length === 0) {
    parts.push(`<text x="${widthPx / 2}" y="${(plot.top + plot.bottom) / 2}" fill="#8e8e8e" font-size="13" text-anchor="middle">No data</text>`);
  }
  lines.forEach((line, i) => {
    const color = PALETTE[i % PALETTE.length] as string;
    // Gaps (NaN, no sample) split a line into segments, as Grafana draws them.
    const segments: string[][] = [[]];
    const byTime = new Map(line.points.map(([t, v]) => [t, v]));
    const times = results.flatMap((r) => r.series.flatMap((s) => s.values.map(([t]) => t)));
    for (const t of [...new Set(times)].sort((a, b) => a - b)) {
      const v = byTime.get(t);
      if (v === undefined) segments.push([]);
      else segments.at(-1)?.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`);
    }
    for (const segment of segments) {
      if (segment.length === 1) parts.push(`<circle cx="${segment[0]?.split(',')[0]}" cy="${segment[0]?.split(',')[1]}" r="2" fill="${color}"/>`);
      else if (segment.length > 1) parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${segment.join(' ')}"/>`);
    }
    const column = i % 3;
    const row = Math.floor(i / 3);
    const lx = 12 + column * ((widthPx - 24) / 3);
    const ly = plot.bottom + 32 + row * 14;
    if (ly < heightPx - 2) {
      parts.push(`<rect x="${lx}" y="${ly - 8}" width="10" height="3" fill="${color}"/>`);
      parts.push(`<text x="${lx + 14}" y="${ly - 3}" fill="#ccccdc" font-size="11">${escapeXml(line.legend.slice(0, 42))}</text>`);
    }
  });
  return parts.join('');
}

/** The whole dashboard as one HTML page of SVG panels at their gridPos (dark theme, `pagePx` wide). */
export function renderDashboardHtml(
  dashboard: Dashboard,
  results: TargetResult[],
  window: { fromMs: number; toMs: number },
  caption: string,
  pagePx = 1600,
): string {
  const column = pagePx / GRID_COLUMNS;
  const header = 56;
  const panels = dashboard.panels.map((panel) => {
    const { x, y, w, h } = panel.gridPos;
    const widthPx = Math.round(w * column - GAP_PX);
    const heightPx = h * ROW_PX + (h - 1) * GAP_PX;
    const left = Math.round(x * column + GAP_PX / 2);
    const topPx = header + y * (ROW_PX + GAP_PX);
    const svg = panelSvg(
      panel,
      results.filter((r) => r.panel === panel),
      widthPx,
      heightPx,
      window,
    );
    return `<svg style="position:absolute;left:${left}px;top:${topPx}px" width="${widthPx}" height="${heightPx}" xmlns="http://www.w3.org/2000/svg" font-family="Inter, Helvetica, Arial, sans-serif">${svg}</svg>`;
  });
  const bottom = Math.max(...dashboard.panels.map((p) => header + (p.gridPos.y + p.gridPos.h) * (ROW_PX + GAP_PX)));
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeXml(dashboard.title)}</title></head>
<body style="margin:0;background:#111217;width:${pagePx}px;height:${bottom}px;position:relative;font-family:Inter, Helvetica, Arial, sans-serif">
<div style="position:absolute;left:12px;top:10px;color:#ccccdc;font-size:20px">${escapeXml(dashboard.title)}</div>
<div style="position:absolute;left:12px;top:34px;color:#8e8e8e;font-size:12px">${escapeXml(caption)}</div>
${panels.join('\n')}
</body></html>`;
}

/** The page height renderDashboardHtml produces (for the screenshot's window size). */
export function dashboardHeightPx(dashboard: Dashboard): number {
  return 56 + Math.max(...dashboard.panels.map((p) => (p.gridPos.y + p.gridPos.h) * (ROW_PX + GAP_PX)));
}
