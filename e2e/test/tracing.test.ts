/**
 * Mesh-wide tracing end to end: one MeshConfig turns on OpenTelemetry tracing in
 * every sidecar, and a request through two services in two languages is one trace.
 *
 *   client → frontend's sidecar (inbound) → frontend app (Node) → frontend's sidecar
 *   (outbound) → backend's sidecar (inbound) → backend app (Python)
 *
 * Both apps are plain HTTP servers; the Node app copies `traceparent` (and
 * `x-request-id`, which carries Envoy's sampling decision) from the request it serves
 * to the request it makes (all an app has to do), the Python app echoes the
 * `traceparent` it received. Spans go to a real OpenTelemetry collector (the
 * collector's OTLP receiver, built from its Go module by
 * e2e/scripts/build-otel-collector.sh), which writes them as OTLP JSON; the test
 * reads them back and checks that the three sidecar spans are one trace, named for
 * their services, parent to child. Runs on the oldest and the newest Envoy release
 * (capability row 'tracing.openTelemetry'), with tracing set by flags and by MeshConfig.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { ENVOY_RELEASES } from '@meshcp/xds-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup, freePort, REPO_ROOT, startEnvoy, startMeshcp, startProcess, tempDir, waitFor } from '../src/harness.js';

/**
 * The oldest release gets tracing from `serve --tracing-*` flags (what the Helm chart's
 * `mesh.tracing` values set), the newest from a MeshConfig in the file.
 */
const CASES: { version: string; via: 'flags' | 'MeshConfig' }[] = [
  { version: ENVOY_RELEASES[0] as string, via: 'flags' },
  { version: ENVOY_RELEASES.at(-1) as string, via: 'MeshConfig' },
];

/** The backend app, in Python: answers with the trace context it was called with. */
const PYTHON_APP = `
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"app": "backend (python)", "traceparent": self.headers.get("traceparent")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
`;

/** The frontend app, in Node: calls the backend through its own sidecar, passing `traceparent` on. */
async function startFrontendApp(outboundPort: number, cleanup: Cleanup): Promise<number> {
  const server = createServer((req, res) => {
    const propagated: Record<string, string> = { host: 'backend.shop:8080' };
    // W3C trace context, and x-request-id: Envoy keeps its sampling decision in it, so the
    // next sidecar continues a sampled trace instead of tossing its own coin.
    for (const name of ['traceparent', 'tracestate', 'x-request-id']) {
      const value = req.headers[name];
      if (typeof value === 'string') propagated[name] = value;
    }
    const call = httpRequest({ host: '127.0.0.1', port: outboundPort, path: '/stock', headers: propagated }, (upstream) => {
      let body = '';
      upstream.setEncoding('utf8');
      upstream.on('data', (chunk: string) => {
        body += chunk;
      });
      upstream.on('end', () => {
        res.writeHead(upstream.statusCode ?? 502, { 'content-type': 'application/json' });
        res.end(body);
      });
    });
    call.on('error', (error) => {
      res.writeHead(502);
      res.end(String(error));
    });
    call.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.add(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

interface SeenSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  kind: number;
  name: string;
}

/** The collector's output (one OTLP JSON ExportTraceServiceRequest per line) as flat spans. */
function readSpans(file: string): SeenSpan[] {
  if (!existsSync(file)) return [];
  const spans: SeenSpan[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const batch = JSON.parse(line) as {
      resourceSpans?: {
        resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
        scopeSpans?: { spans?: { traceId: string; spanId: string; parentSpanId?: string; kind?: number; name?: string }[] }[];
      }[];
    };
    for (const rs of batch.resourceSpans ?? []) {
      const service = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
      for (const ss of rs.scopeSpans ?? [])
        for (const span of ss.spans ?? [])
          spans.push({
            service,
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId ?? '',
            kind: span.kind ?? 0,
            name: span.name ?? '',
          });
    }
  }
  return spans;
}

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;

interface TracedMesh {
  spansFile: string;
  frontendInbound: number;
  collectorOutput: () => string;
}

/** Collector, the two apps, meshcp with tracing on (by flags or a MeshConfig) and the two sidecars. */
async function startTracedMesh(version: string, via: 'flags' | 'MeshConfig', samplingPercent: number, cleanup: Cleanup): Promise<TracedMesh> {
  const collectorBinary = execFileSync('bash', [join(REPO_ROOT, 'e2e/scripts/build-otel-collector.sh')], { encoding: 'utf8', timeout: 900_000 }).trim();
  const dir = tempDir('tracing', cleanup);
  const spansFile = join(dir, 'spans.jsonl');
  const collectorPort = await freePort();
  const collector = startProcess(collectorBinary, ['--grpc', `127.0.0.1:${collectorPort}`, '--out', spansFile], cleanup);
  await waitFor(`the collector to listen on ${collectorPort} (output: ${collector.output()})`, () => portOpen(collectorPort), 20_000);

  const backendApp = await freePort();
  const script = join(dir, 'backend.py');
  writeFileSync(script, PYTHON_APP);
  const python = startProcess('python3', [script, String(backendApp)], cleanup);
  await waitFor(`the Python app to listen on ${backendApp} (output: ${python.output()})`, () => portOpen(backendApp), 20_000);

  const frontendOutbound = await freePort();
  const frontendApp = await startFrontendApp(frontendOutbound, cleanup);
  const frontendInbound = await freePort();
  const backendInbound = await freePort();
  const meshConfig = `apiVersion: meshcp.io/v1alpha1
kind: MeshConfig
metadata: {name: mesh}
spec:
  tracing:
    collector: {address: 127.0.0.1, port: ${collectorPort}}
    samplingPercent: ${samplingPercent}
---
`;
  const mesh = join(dir, 'mesh.yaml');
  writeFileSync(
    mesh,
    `${via === 'MeshConfig' ? meshConfig : ''}apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: frontend, namespace: shop}
spec:
  ports: [{name: http, port: 8080}]
  endpoints: [{address: 127.0.0.1, port: ${frontendInbound}}]
---
apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: backend, namespace: shop}
spec:
  ports: [{name: http, port: 8080}]
  endpoints: [{address: 127.0.0.1, port: ${backendInbound}}]
`,
  );
  const flags = via === 'flags' ? ['--tracing-collector', `127.0.0.1:${collectorPort}`, '--tracing-sampling-percent', String(samplingPercent)] : [];
  const meshcp = await startMeshcp(mesh, cleanup, undefined, ['--insecure', ...flags]);
  const common = { xdsPort: meshcp.xdsPort, version, namespace: 'shop' };
  await startEnvoy(
    { ...common, nodeId: 'frontend-1', service: 'frontend', outboundPort: frontendOutbound, inboundPort: frontendInbound, appPort: frontendApp },
    cleanup,
  );
  await startEnvoy({ ...common, nodeId: 'backend-1', service: 'backend', inboundPort: backendInbound, appPort: backendApp }, cleanup);
  return { spansFile, frontendInbound, collectorOutput: collector.output };
}

/** One request into the frontend's sidecar; the backend's answer (with the traceparent it got). */
async function callFrontend(mesh: TracedMesh, headers: Record<string, string> = {}): Promise<{ traceparent: string | null }> {
  return waitFor('a 200 through frontend → backend', async () => {
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: mesh.frontendInbound, path: '/checkout', headers: { host: 'frontend.shop', ...headers } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body.slice(0, 200)}`);
    return JSON.parse(r.body) as { traceparent: string | null };
  });
}

describe.each(CASES)('one trace across two services and two sidecars (Envoy $version, tracing from $via)', ({ version, via }) => {
  const cleanup = new Cleanup();
  let mesh: TracedMesh;

  beforeAll(async () => {
    mesh = await startTracedMesh(version, via, 100, cleanup);
  }, 900_000);

  afterAll(() => cleanup.run());

  it('the collector sees frontend and backend spans of one trace, parent to child, and the backend app got its traceparent', async () => {
    // Several requests: Envoy's tracer flushes at 5 spans (or every 5 s).
    const answers: { traceparent: string | null }[] = [];
    for (let i = 0; i < 6; i++) answers.push(await callFrontend(mesh));
    const traceparent = answers.at(-1)?.traceparent ?? '';
    // W3C trace context: version-traceid-parentid-flags, sampled.
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const [, traceId, parentOfApp] = traceparent.split('-') as [string, string, string];

    const trace = await waitFor(
      `the collector to hold the frontend server, frontend client and backend server spans of trace ${traceId} (collector output: ${mesh.collectorOutput().slice(-300)})`,
      () => {
        const spans = readSpans(mesh.spansFile).filter((s) => s.traceId === traceId);
        const frontendServer = spans.find((s) => s.service === 'frontend.shop' && s.kind === SPAN_KIND_SERVER);
        const frontendClient = spans.find((s) => s.service === 'frontend.shop' && s.kind === SPAN_KIND_CLIENT);
        const backendServer = spans.find((s) => s.service === 'backend.shop' && s.kind === SPAN_KIND_SERVER);
        return frontendServer && frontendClient && backendServer && { frontendServer, frontendClient, backendServer };
      },
      30_000,
    );
    // One chain: the Node app carried the frontend's inbound span into its outbound call,
    // and the backend's sidecar continued the frontend sidecar's client span.
    expect(trace.frontendServer.parentSpanId).toBe('');
    expect(trace.frontendClient.parentSpanId).toBe(trace.frontendServer.spanId);
    expect(trace.backendServer.parentSpanId).toBe(trace.frontendClient.spanId);
    // The backend app was handed its own sidecar's span as parent.
    expect(parentOfApp).toBe(trace.backendServer.spanId);
    // Every request was sampled (samplingPercent 100): one trace each, none merged.
    const traces = new Set(readSpans(mesh.spansFile).map((s) => s.traceId));
    for (const answer of answers) expect(traces.has(answer.traceparent?.split('-')[1] ?? '')).toBe(true);
  }, 60_000);
});

describe('sampling: each trace is whole or absent (the first sidecar decides; x-request-id carries the decision)', () => {
  const cleanup = new Cleanup();
  let mesh: TracedMesh;

  beforeAll(async () => {
    mesh = await startTracedMesh(ENVOY_RELEASES.at(-1) as string, 'MeshConfig', 50, cleanup);
  }, 900_000);

  afterAll(() => cleanup.run());

  it('samplingPercent 50: sampled requests (flags 01) have all three spans, unsampled ones (flags 00) none', async () => {
    const answers: string[] = [];
    for (let i = 0; i < 24; i++) answers.push((await callFrontend(mesh)).traceparent ?? '');
    for (const traceparent of answers) expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    const sampled = answers.filter((t) => t.endsWith('-01')).map((t) => t.split('-')[1] as string);
    const unsampled = answers.filter((t) => t.endsWith('-00')).map((t) => t.split('-')[1] as string);
    // 24 coin tosses at 50 %: both kinds (all alike has odds of 2 in 16 million).
    expect(sampled.length).toBeGreaterThan(0);
    expect(unsampled.length).toBeGreaterThan(0);
    await waitFor(
      `every sampled trace (${sampled.length}) whole: frontend server and client, backend server (collector output: ${mesh.collectorOutput().slice(-300)})`,
      () => {
        const spans = readSpans(mesh.spansFile);
        return sampled.every((id) => {
          const of = spans.filter((s) => s.traceId === id);
          return (
            of.some((s) => s.service === 'frontend.shop' && s.kind === SPAN_KIND_SERVER) &&
            of.some((s) => s.service === 'frontend.shop' && s.kind === SPAN_KIND_CLIENT) &&
            of.some((s) => s.service === 'backend.shop' && s.kind === SPAN_KIND_SERVER)
          );
        });
      },
      30_000,
    );
    // Exported after the unsampled ones would have been: none of those is there, not even in part.
    const exported = new Set(readSpans(mesh.spansFile).map((s) => s.traceId));
    for (const id of unsampled) expect(exported.has(id), `unsampled trace ${id}`).toBe(false);
  }, 90_000);
});
