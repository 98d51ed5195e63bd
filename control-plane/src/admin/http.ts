/** The admin HTTP API (DESIGN.md §3): health, readiness, metrics, and debug views. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ConfigError } from '@meshcp/translators';
import { ALL_TYPE_URLS, SECRET, SHORT_NAME } from '@meshcp/xds-protos';
import { AdminAccess } from '../auth/admin-access.js';
import type { SnapshotCache } from '../cache/snapshot-cache.js';
import type { Metrics } from '../metrics.js';
import { connectionJson } from '../xds/connection.js';
import type { XdsServer } from '../xds/server.js';

/** The xDS streams the admin API shows: one server's, or every worker's (xds/workers.ts). */
export type AdminXdsView = Pick<XdsServer, 'connections' | 'viewOf' | 'certificateStatus'>;

export interface AdminDeps {
  cache: SnapshotCache;
  xds: AdminXdsView;
  /** Brings `xds` up to date before a request is answered (streams on worker processes). */
  refresh?: () => Promise<void>;
  /** The /metrics text, when it is more than this process's registry (summed over workers). */
  metricsText?: () => Promise<string>;
  metrics: Metrics;
  configErrors: () => ConfigError[];
  sourcesSynced: () => boolean;
  /** Who may read what; default: everything on loopback, `/debug` nowhere else. */
  access?: AdminAccess;
}

interface AdminAnswer {
  status: number;
  type: string;
  body: string;
}

/** The request target as a URL, or undefined when it is not one. */
function parseTarget(target: string | undefined): URL | undefined {
  try {
    return new URL(target ?? '/', 'http://admin');
  } catch {
    return undefined;
  }
}

export class AdminServer {
  private server?: Server;

  constructor(private readonly deps: AdminDeps) {}

  async start(host: string, port: number): Promise<number> {
    const access = this.deps.access ?? new AdminAccess(undefined);
    const server = createServer((req, res) => {
      const answer = ({ status, type, body }: AdminAnswer) => {
        if (res.headersSent) return;
        res.writeHead(status, { 'content-type': type });
        res.end(body);
      };
      // Parsed once, before anything else: a target WHATWG URL cannot parse (`//[`) is the client's error, never the server's.
      const url = parseTarget(req.url);
      if (!url) {
        answer({ status: 400, type: 'text/plain', body: 'bad request target\n' });
        return;
      }
      access
        .check({
          method: req.method ?? 'GET',
          path: url.pathname,
          remoteAddress: req.socket.remoteAddress ?? '',
          ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        })
        .then((verdict) => (verdict.allowed ? this.route(url) : { status: verdict.status, type: 'text/plain', body: `${verdict.message}\n` }))
        .then(answer)
        .catch((error: unknown) => answer({ status: 500, type: 'text/plain', body: `${String(error).slice(0, 300)}\n` }));
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async route(url: URL): Promise<AdminAnswer> {
    const { pathname, searchParams } = url;
    const json = (status: number, value: unknown) => ({ status, type: 'application/json', body: `${JSON.stringify(value, null, 2)}\n` });
    const { cache, xds, metrics } = this.deps;
    if (pathname.startsWith('/debug/') && this.deps.refresh) await this.deps.refresh();
    switch (pathname) {
      case '/healthz':
        return { status: 200, type: 'text/plain', body: 'ok\n' };
      case '/readyz': {
        const ready = this.deps.sourcesSynced() && cache.isReady();
        return { status: ready ? 200 : 503, type: 'text/plain', body: ready ? 'ready\n' : 'sources not synced\n' };
      }
      case '/metrics':
        return { status: 200, type: metrics.registry.contentType, body: await (this.deps.metricsText?.() ?? metrics.registry.metrics()) };
      case '/debug/proxies': {
        // Each proxy's workload certificate as served over SDS (whether it took it: the SDS type's status).
        const certificates = new Map(xds.certificateStatus().map((c) => [c.spiffeId, c]));
        return json(200, {
          proxies: xds.connections().map((record) => {
            const view = xds.viewOf(record);
            const served = certificates.get(record.identity);
            const certificate = served?.notAfter
              ? { notAfter: served.notAfter, serialNumber: served.serialNumber, signer: served.signer, trustBundle: served.trustBundle }
              : null;
            const shown = { ...connectionJson(record), certificate, degraded: view && cache.isReady() ? cache.degradedFor(view) : [] };
            // A gRPC client ACKs endpoints it will not use (gRFC A27): such EDS is not shown as SYNCED.
            const empty = view && cache.isReady() ? cache.clustersWithoutUsableEndpoints(view) : [];
            if (empty.length > 0) {
              shown.degraded = [
                ...shown.degraded,
                ...empty.map((cluster) => `${cluster}: EDS sent with no endpoint gRPC will use (gRFC A27): RPCs fail UNAVAILABLE`),
              ];
              for (const type of Object.values(shown.types) as { short: string; status: string }[])
                if (type.short === 'EDS' && type.status === 'SYNCED') type.status = 'NO_ENDPOINTS';
            }
            return shown;
          }),
        });
      }
      case '/debug/certificates':
        return json(200, { certificates: xds.certificateStatus() });
      case '/debug/errors':
        return json(200, { configErrors: this.deps.configErrors(), rejectedResources: cache.rejectedResources() });
      case '/debug/config_dump': {
        const id = searchParams.get('proxy');
        const identity = searchParams.get('identity');
        // A node id is the client's claim: streams of two identities may share one, and must not be mistaken for each other.
        const matching = xds.connections().filter((c) => c.nodeId === id && (identity === null || c.identity === identity));
        const identities = [...new Set(matching.map((c) => c.identity))];
        if (identities.length > 1)
          return json(409, { error: `node id ${JSON.stringify(id)} is used by streams of ${identities.length} identities: add &identity=`, identities });
        const record = matching[0];
        if (!record)
          return json(404, {
            error: `no connected proxy with node id ${JSON.stringify(id)}${identity === null ? '' : ` and identity ${JSON.stringify(identity)}`}`,
          });
        const view = xds.viewOf(record);
        if (!view) return json(404, { error: 'proxy has not identified itself yet' });
        const dump: Record<string, unknown> = {};
        for (const typeUrl of ALL_TYPE_URLS) {
          const resources = cache.resources(view, typeUrl, 'all');
          dump[SHORT_NAME[typeUrl]] = [...resources.values()].map((r) => ({
            name: r.name,
            version: r.version,
            resource: typeUrl === SECRET ? redactSecret(r.json) : r.json,
          }));
        }
        return json(200, { proxy: connectionJson(record), resources: dump });
      }
      default:
        return { status: 404, type: 'text/plain', body: 'not found\n' };
    }
  }
}

/** A Secret as the admin API may show it: certificates yes, private keys never. */
function redactSecret(json: unknown): unknown {
  const secret = json as { tls_certificate?: { private_key?: unknown } };
  if (!secret.tls_certificate?.private_key) return json;
  return { ...secret, tls_certificate: { ...secret.tls_certificate, private_key: '[redacted]' } };
}
