// The Node member of meshcp's four-language demo (k8s/demo/README.md): an HTTP
// service on :8080 that tells who called it (GET /) and calls another service
// by name (GET /call?to=host:port), the way any app does: plain HTTP to the
// Service name, no proxy settings. The sidecar's capture does the rest.
import { createServer } from 'node:http';

const APP = process.env.APP_NAME ?? 'node';
const PORT = Number(process.env.PORT ?? 8080);

/** What this server saw of the caller: the connection's source and the headers Envoy adds. */
function view(req) {
  return {
    app: APP,
    language: 'node',
    peer: (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
    host: req.headers.host ?? '',
    requestId: req.headers['x-request-id'] ?? '',
    clientCert: req.headers['x-forwarded-client-cert'] ?? '',
  };
}

function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}

createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://local');
  if (url.pathname === '/healthz') return reply(res, 200, { ok: true });
  if (url.pathname === '/call') {
    const to = url.searchParams.get('to') ?? '';
    try {
      const upstream = await fetch(`http://${to}/`, { signal: AbortSignal.timeout(5000) });
      const text = await upstream.text();
      let body;
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      return reply(res, upstream.ok ? 200 : 502, { from: APP, to, status: upstream.status, reply: body });
    } catch (error) {
      return reply(res, 502, { from: APP, to, error: String(error) });
    }
  }
  return reply(res, 200, view(req));
}).listen(PORT, () => console.log(`${APP} (node) listening on :${PORT}`));
