import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';

/**
 * Ports handed out here are bound later by another process (Envoy, meshcp), so a port
 * must not be one the kernel may meanwhile pick as the source port of some outgoing
 * connection: that race made listeners fail with "Address already in use" under load.
 * So ports come from below the ephemeral range, at random, checked free by binding.
 */
function ephemeralRangeStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return low && low > 12_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

// Above the kubelet/kube-proxy ports (10250-10259) and below Kubernetes' NodePort range (30000-32767):
// the test cluster binds those itself.
const PORT_FLOOR = 12_000;
const PORT_CEILING = Math.min(ephemeralRangeStart(), 30_000);
const handedOut = new Set<number>();

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createNetServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A TCP port that was free on 127.0.0.1 a moment ago (and is not handed out twice by this process). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = PORT_FLOOR + Math.floor(Math.random() * (PORT_CEILING - PORT_FLOOR));
    if (handedOut.has(port)) continue;
    if (await bindable(port)) {
      handedOut.add(port);
      return port;
    }
  }
  // A crowded range: fall back to one the kernel picks.
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const keepAlive = new Agent({ keepAlive: true, maxSockets: 8 });

export interface HttpResult {
  status: number;
  body: string;
}

/** GET 127.0.0.1:port with an explicit Host header (fetch does not allow setting Host). */
export function httpGet(port: number, host: string, path = '/', timeoutMs = 5000): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host }, agent: keepAlive, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${host}${path} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** GET a plain URL and return the body text; throws on a non-2xx status. */
export async function fetchText(url: string, timeoutMs = 5000): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}: ${text.slice(0, 200)}`);
  return text;
}
