import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Cleanup } from './cleanup.js';

/** Path of the health endpoint active health checks probe; not counted as traffic. */
export const UPSTREAM_HEALTH_PATH = '/health';

/** An HTTP server that answers with its own name and counts what it served. */
export interface Upstream {
  name: string;
  port: number;
  /** Requests served, health checks excluded. */
  requests: number;
  /** Paths of the most recent requests (health checks excluded), newest last. */
  paths: string[];
  /** Headers of the most recent request (health checks excluded), e.g. the x-forwarded-client-cert a sidecar added. */
  lastHeaders?: IncomingHttpHeaders;
  /** Health checks answered. */
  healthChecks: number;
  /** When false, the health endpoint answers 503 (traffic is still served). */
  healthy: boolean;
  server: Server;
}

export async function startUpstream(name: string, cleanup: Cleanup, port = 0): Promise<Upstream> {
  const upstream: Upstream = { name, port: 0, requests: 0, paths: [], healthChecks: 0, healthy: true, server: createServer() };
  upstream.server.on('request', (req, res) => {
    req.resume();
    if (req.url === UPSTREAM_HEALTH_PATH) {
      upstream.healthChecks++;
      res.writeHead(upstream.healthy ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(upstream.healthy ? 'ok\n' : 'unhealthy\n');
      return;
    }
    upstream.requests++;
    upstream.paths.push(req.url ?? '');
    upstream.lastHeaders = req.headers;
    if (upstream.paths.length > 100) upstream.paths.shift();
    res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name });
    res.end(`${name}\n`);
  });
  await new Promise<void>((resolve) => upstream.server.listen(port, '127.0.0.1', resolve));
  upstream.port = (upstream.server.address() as AddressInfo).port;
  cleanup.add(
    () =>
      new Promise<void>((resolve) => {
        upstream.server.closeAllConnections();
        upstream.server.close(() => resolve());
      }),
  );
  return upstream;
}
