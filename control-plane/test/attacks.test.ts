/**
 * Regression tests for issue 11's "unauthenticated exhaustion" attacks, against a
 * real `meshcp serve` process over loopback with real gRPC clients. Each attack is
 * measured from inside the server by the server itself (meshcp_event_loop_busy_max_seconds
 * and meshcp_event_loop_delay_max_seconds on /metrics, maxima since the previous
 * scrape) and from outside (the slowest /healthz answer while attacking). Figures are
 * printed for the record.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLUSTER, ENDPOINT, encodeDeltaDiscoveryRequest, encodeDiscoveryRequest, LISTENER, ROUTE } from '@meshcp/xds-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENVOY_NODE, serviceYaml } from './fixtures.js';
import { XdsTestClient } from './xds-client.js';

const BIN = fileURLToPath(new URL('../bin/meshcp.js', import.meta.url));
const PROBES = fileURLToPath(new URL('./support/serve-probes.mjs', import.meta.url));
/**
 * Issue 11's bound, on what meshcp's own code holds the loop for (main-thread CPU time
 * of a late turn). The wall-clock delay is printed beside it with the load average:
 * on this shared 2-core machine it also counts waiting for a core.
 */
const MAX_STALL_MS = 200;
const SERVICES = 300;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}; last seen: ${String(last)}`);
}

class ServeProcess {
  readonly child: ChildProcess;
  stderr = '';
  longestLogLine = 0;
  private exited?: Promise<number | null>;

  constructor(
    readonly xdsPort: number,
    readonly adminPort: number,
    file: string,
    extraArgs: string[],
  ) {
    this.child = spawn(
      process.execPath,
      [
        '--expose-gc',
        '--import',
        PROBES,
        BIN,
        'serve',
        '--file',
        file,
        '--xds-address',
        `127.0.0.1:${xdsPort}`,
        '--admin-address',
        `127.0.0.1:${adminPort}`,
        // Plaintext on loopback: these attacks come before authentication (tls-auth.test.ts and xds-security covers that).
        '--insecure',
        ...extraArgs,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let partial = '';
    this.child.stderr?.on('data', (chunk: Buffer) => {
      const text = partial + chunk.toString();
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.longestLogLine = Math.max(this.longestLogLine, line.length);
      this.longestLogLine = Math.max(this.longestLogLine, partial.length);
      if (this.stderr.length < 200_000) this.stderr += chunk.toString();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** One GET on a fresh connection (a kept-alive one can be closed under us between requests). */
  admin(path: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const request = http.get({ host: '127.0.0.1', port: this.adminPort, path, agent: false }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () => resolve(body));
        response.on('error', reject);
      });
      request.on('error', reject);
    });
  }

  /** The worst event-loop figures the server reported since the window started, in ms. */
  private window = { wall: 0, busy: 0 };

  /**
   * One scrape. Every scrape ends the server's event-loop window, so each one (RSS
   * reads included) folds the server's maxima into this test's window: none is lost.
   */
  private async scrape(): Promise<string> {
    const text = await this.admin('/metrics');
    const seconds = (name: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      if (!line) throw new Error(`metric ${name} not found`);
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    this.window.wall = Math.max(this.window.wall, seconds('meshcp_event_loop_delay_max_seconds') * 1000);
    this.window.busy = Math.max(this.window.busy, seconds('meshcp_event_loop_busy_max_seconds') * 1000);
    return text;
  }

  async metric(name: string): Promise<number> {
    const text = await this.scrape();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    if (!line) throw new Error(`metric ${name} not found`);
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }

  /** Starts a measurement window (the scrape ends the server's previous one). */
  async resetLoopDelay(): Promise<void> {
    await this.scrape();
    this.window = { wall: 0, busy: 0 };
  }

  /**
   * The worst event-loop stall since the window started, in ms, as the server measured
   * it: `wall` is the longest delay (meshcp_event_loop_delay_max_seconds), `busy` the
   * longest late turn in main-thread CPU time (meshcp_event_loop_busy_max_seconds),
   * i.e. without the time the process only waited for a core.
   */
  async loopStall(): Promise<{ wall: number; busy: number }> {
    await this.scrape();
    return { ...this.window };
  }

  /**
   * Resident memory after full GCs, in MiB: the lowest of three samples half a second
   * apart, since freed pages go back to the OS a little after the collection.
   */
  async rssAfterGcMiB(): Promise<number> {
    let lowest = Number.POSITIVE_INFINITY;
    for (let sample = 0; sample < 3; sample++) {
      const before = this.stderr.split('gc done').length;
      this.child.kill('SIGUSR2');
      await waitFor('gc to run', () => this.stderr.split('gc done').length > before);
      await sleep(500);
      lowest = Math.min(lowest, (await this.metric('process_resident_memory_bytes')) / 1024 / 1024);
    }
    return lowest;
  }

  async heapUsedMiB(): Promise<number> {
    return (await this.metric('nodejs_heap_size_used_bytes')) / 1024 / 1024;
  }

  exitCode(): Promise<number | null> {
    return this.exited ?? Promise.resolve(null);
  }
}

/** Polls /healthz every 25 ms while `attack` runs; returns the slowest answer in ms. */
async function slowestHealthz<T>(serve: ServeProcess, attack: () => Promise<T>): Promise<{ result: T; slowestMs: number }> {
  let running = true;
  let slowestMs = 0;
  const prober = (async () => {
    while (running) {
      const started = performance.now();
      await serve.admin('/healthz');
      slowestMs = Math.max(slowestMs, performance.now() - started);
      await sleep(25);
    }
  })();
  try {
    const result = await attack();
    return { result, slowestMs };
  } finally {
    running = false;
    await prober;
  }
}

const figures: string[] = [];
function report(line: string): void {
  line = `${line} [load ${loadavg()[0]?.toFixed(1)}]`;
  figures.push(line);
  process.stdout.write(`[attack] ${line}\n`);
}

describe('unauthenticated exhaustion attacks against meshcp serve', () => {
  let dir: string;
  let serve: ServeProcess;
  const clients: XdsTestClient[] = [];
  const client = (mode: 'sotw' | 'delta' = 'sotw') => {
    const c = new XdsTestClient(serve.xdsPort, mode);
    clients.push(c);
    return c;
  };
  const closeClients = () => {
    for (const c of clients.splice(0)) c.close();
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meshcp-attacks-'));
    const file = join(dir, 'mesh.yaml');
    writeFileSync(file, Array.from({ length: SERVICES }, (_, i) => serviceYaml(`svc${i}`, [1000 + (i % 50)])).join('---\n'));
    serve = new ServeProcess(await freePort(), await freePort(), file, ['--write-deadline-seconds', '2']);
    await waitFor('meshcp serve to be ready', async () => (await serve.admin('/readyz')).startsWith('ready'), 30_000);
    // Warm up the way a real proxy would, so the baseline includes the translated variant.
    const warm = client();
    warm.send({ node: ENVOY_NODE, type_url: CLUSTER });
    await warm.next(10_000);
    closeClients();
  });

  afterAll(async () => {
    closeClients();
    if (serve && serve.child.exitCode === null) {
      serve.child.kill('SIGKILL');
      await serve.exitCode();
    }
    rmSync(dir, { recursive: true, force: true });
    process.stdout.write(`\n[attack] summary\n${figures.map((f) => `  ${f}`).join('\n')}\n`);
  });

  it('one Delta request with 200,000 initial_resource_versions is refused without stalling the loop', async () => {
    const initial: Record<string, string> = {};
    for (let i = 0; i < 200_000; i++) initial[`b${i}`] = 'v';
    const bytes = encodeDeltaDiscoveryRequest({ node: { ...ENVOY_NODE, id: 'delta-attacker' }, type_url: CLUSTER, initial_resource_versions: initial });
    await serve.resetLoopDelay();
    const { result: status, slowestMs } = await slowestHealthz(serve, async () => {
      const attacker = client('delta');
      attacker.sendRaw(bytes);
      return attacker.ended(20_000);
    });
    const stall = await serve.loopStall();
    report(
      `Delta 200,000 initial_resource_versions (${(bytes.length / 1024 / 1024).toFixed(1)} MiB): status ${status.code} "${status.details.slice(0, 80)}"; loop stall ${stall.busy.toFixed(0)} ms busy / ${stall.wall.toFixed(0)} ms wall; slowest /healthz ${slowestMs.toFixed(0)} ms`,
    );
    expect(status.code).toBe(8);
    expect(status.details).toContain('initial_resource_versions');
    expect(stall.busy).toBeLessThan(MAX_STALL_MS);

    // At the cap (10,000 by default) it is served, linearly: every claimed name is reported removed.
    const under: Record<string, string> = {};
    for (let i = 0; i < 10_000; i++) under[`b${i}`] = 'v';
    await serve.resetLoopDelay();
    const reconnect = client('delta');
    reconnect.sendRaw(encodeDeltaDiscoveryRequest({ node: { ...ENVOY_NODE, id: 'delta-big' }, type_url: CLUSTER, initial_resource_versions: under }));
    const response = await reconnect.next(20_000);
    const underStall = await serve.loopStall();
    report(
      `Delta 10,000 unknown initial_resource_versions (the cap): answered with ${response.removed_resources?.length} removals; loop stall ${underStall.busy.toFixed(0)} ms busy / ${underStall.wall.toFixed(0)} ms wall`,
    );
    expect(response.removed_resources).toHaveLength(10_000);
    expect(underStall.busy).toBeLessThan(MAX_STALL_MS);
    closeClients();
  });

  it('five SotW requests naming 50,000 bogus EDS names are refused; five naming 10,000 (the cap) leave no memory behind', async () => {
    const baselineRss = await serve.rssAfterGcMiB();
    const baselineHeap = await serve.heapUsedMiB();
    const bogusRequest = (n: number, count: number) =>
      encodeDiscoveryRequest({
        node: { ...ENVOY_NODE, id: `eds-attacker-${n}` },
        type_url: ENDPOINT,
        resource_names: Array.from({ length: count }, (_, i) => `bogus-${n}-${i}.nowhere:${i}`),
      });
    const over = Array.from({ length: 5 }, (_, n) => bogusRequest(n, 50_000));
    const atCap = Array.from({ length: 5 }, (_, n) => bogusRequest(n, 10_000));
    await serve.resetLoopDelay();
    const { result: refusals, slowestMs } = await slowestHealthz(serve, async () => {
      const refused = over.map((bytes) => {
        const attacker = client();
        attacker.sendRaw(bytes);
        return attacker;
      });
      const statuses = await Promise.all(refused.map((a) => a.ended(20_000)));
      for (const bytes of atCap) client().sendRaw(bytes);
      await waitFor('the five attackers at the cap to be admitted', async () => {
        const proxies = JSON.parse(await serve.admin('/debug/proxies')) as { proxies: { nodeId: string; types: Record<string, unknown> }[] };
        return proxies.proxies.filter((p) => p.nodeId.startsWith('eds-attacker-') && Object.keys(p.types).length > 0).length === 5 || undefined;
      });
      return statuses;
    });
    const stall = await serve.loopStall();
    const duringRss = (await serve.metric('process_resident_memory_bytes')) / 1024 / 1024;
    closeClients();
    await waitFor('attackers to disconnect', async () => {
      const proxies = JSON.parse(await serve.admin('/debug/proxies')) as { proxies: { nodeId: string }[] };
      return proxies.proxies.every((p) => !p.nodeId.startsWith('eds-attacker-')) || undefined;
    });
    const afterRss = await serve.rssAfterGcMiB();
    const afterHeap = await serve.heapUsedMiB();
    report(
      `5 × SotW 50,000 bogus EDS names: ${refusals.filter((s) => s.code === 8).length}/5 refused (RESOURCE_EXHAUSTED); 5 × 10,000 held open: RSS ${baselineRss.toFixed(0)} MiB before, ${duringRss.toFixed(0)} MiB during, ${afterRss.toFixed(0)} MiB after (${(((afterRss - baselineRss) / baselineRss) * 100).toFixed(1)} %); heap ${baselineHeap.toFixed(1)} → ${afterHeap.toFixed(1)} MiB; loop stall ${stall.busy.toFixed(0)} ms busy / ${stall.wall.toFixed(0)} ms wall; slowest /healthz ${slowestMs.toFixed(0)} ms`,
    );
    expect(refusals.every((s) => s.code === 8)).toBe(true);
    expect(stall.busy).toBeLessThan(MAX_STALL_MS);
    expect(afterRss).toBeLessThan(baselineRss * 1.1);
    expect(afterHeap).toBeLessThan(baselineHeap * 1.1);
  });

  it('300 streams claiming one node id: all but the per-node limit are refused', async () => {
    await serve.resetLoopDelay();
    const streams: XdsTestClient[] = [];
    const { slowestMs } = await slowestHealthz(serve, async () => {
      for (let i = 0; i < 300; i++) {
        const s = client();
        s.send({ node: { ...ENVOY_NODE, id: 'popular' }, type_url: CLUSTER });
        streams.push(s);
      }
      await waitFor('every stream to be answered or refused', () => (streams.every((s) => s.status !== undefined || s.pending() > 0) ? true : undefined));
    });
    const stall = await serve.loopStall();
    const refused = streams.filter((s) => s.status?.code === 8).length;
    const served = streams.filter((s) => s.status === undefined && s.pending() > 0).length;
    report(
      `300 streams, one node id: ${served} served, ${refused} refused (RESOURCE_EXHAUSTED); loop stall ${stall.busy.toFixed(0)} ms busy / ${stall.wall.toFixed(0)} ms wall; slowest /healthz ${slowestMs.toFixed(0)} ms`,
    );
    expect(served).toBe(8);
    expect(refused).toBe(292);
    expect(stall.busy).toBeLessThan(MAX_STALL_MS);
    closeClients();
  });

  it('a 30 MiB NACK is refused at the transport; a 3.5 MiB one is cut to 1 KiB in the admin record and the log', async () => {
    const huge = client();
    huge.send({ node: { ...ENVOY_NODE, id: 'nack-huge' }, type_url: CLUSTER });
    const first = await huge.next(10_000);
    await serve.resetLoopDelay();
    huge.send({ type_url: CLUSTER, response_nonce: first.nonce, error_detail: { code: 3, message: 'x'.repeat(30 * 1024 * 1024) } });
    const hugeStatus = await huge.ended(20_000);

    const big = client();
    big.send({ node: { ...ENVOY_NODE, id: 'nack-big' }, type_url: CLUSTER });
    const bigFirst = await big.next(10_000);
    big.send({ type_url: CLUSTER, response_nonce: bigFirst.nonce, error_detail: { code: 3, message: 'y'.repeat(3.5 * 1024 * 1024) } });
    const recorded = await waitFor('the NACK in /debug/proxies', async () => {
      const proxies = JSON.parse(await serve.admin('/debug/proxies')) as {
        proxies: { nodeId: string; types: Record<string, { lastNack: { error: string } | null }> }[];
      };
      return proxies.proxies.find((p) => p.nodeId === 'nack-big')?.types[CLUSTER]?.lastNack?.error;
    });
    const stall = await serve.loopStall();
    report(
      `NACK 30 MiB: status ${hugeStatus.code} "${hugeStatus.details.slice(0, 60)}"; NACK 3.5 MiB: admin record ${recorded.length} chars, longest log line ${serve.longestLogLine} chars; loop stall ${stall.busy.toFixed(0)} ms busy / ${stall.wall.toFixed(0)} ms wall`,
    );
    expect(hugeStatus.code).toBe(8);
    expect(recorded.length).toBeLessThan(1100);
    expect(serve.longestLogLine).toBeLessThan(4096);
    expect(stall.busy).toBeLessThan(MAX_STALL_MS);
    closeClients();
  });

  it('a client that stops reading is ended by the write deadline', async () => {
    // A raw HTTP/2 client that never reads its stream: grpc-js's client keeps reading
    // into its own buffer whatever the application does, so it cannot play this part.
    const session = http2.connect(`http://127.0.0.1:${serve.xdsPort}`);
    const stream = session.request({
      ':method': 'POST',
      ':path': '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    stream.pause();
    const frame = (message: Buffer) => {
      const header = Buffer.alloc(5);
      header.writeUInt32BE(message.length, 1);
      return Buffer.concat([header, message]);
    };
    const node = { ...ENVOY_NODE, id: 'slow-reader' };
    stream.write(frame(encodeDiscoveryRequest({ node, type_url: CLUSTER })));
    stream.write(frame(encodeDiscoveryRequest({ type_url: LISTENER })));
    stream.write(frame(encodeDiscoveryRequest({ type_url: ROUTE, resource_names: ['outbound:15001'] })));
    stream.write(frame(encodeDiscoveryRequest({ type_url: ENDPOINT, resource_names: ['*'] })));
    const started = performance.now();
    const closed = new Promise<number>((resolve) => stream.once('close', () => resolve(stream.rstCode ?? -1)));
    await waitFor('the slow reader to be admitted', async () => (await serve.admin('/debug/proxies')).includes('slow-reader') || undefined);
    const rstCode = await Promise.race([closed, sleep(15_000).then(() => -2)]);
    const elapsed = performance.now() - started;
    const proxies = await serve.admin('/debug/proxies');
    session.destroy();
    report(
      `slow reader (write deadline 2 s): stream reset after ${(elapsed / 1000).toFixed(1)} s (RST_STREAM code ${rstCode}); gone from /debug/proxies: ${!proxies.includes('slow-reader')}`,
    );
    expect(rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
    expect(elapsed).toBeLessThan(10_000);
    expect(proxies).not.toContain('slow-reader');
  });

  it('SIGTERM is honoured within a bounded time while attackers hold streams open', async () => {
    for (let i = 0; i < 100; i++) client().send({ node: { ...ENVOY_NODE, id: `holder-${i}` }, type_url: CLUSTER });
    const flood = encodeDeltaDiscoveryRequest({
      node: { ...ENVOY_NODE, id: 'flood' },
      type_url: CLUSTER,
      initial_resource_versions: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`f${i}`, 'v'])),
    });
    for (let i = 0; i < 3; i++) client('delta').sendRaw(flood);
    await sleep(200);
    const started = performance.now();
    serve.child.kill('SIGTERM');
    const code = await serve.exitCode();
    const elapsed = performance.now() - started;
    report(`SIGTERM with 100 open streams and 3 large Delta requests in flight: exited ${code} after ${elapsed.toFixed(0)} ms`);
    expect(code).toBe(0);
    expect(elapsed).toBeLessThan(6000);
  });
});
