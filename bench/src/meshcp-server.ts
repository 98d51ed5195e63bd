/**
 * The meshcp side of the benchmark: meshcp's own SnapshotCache + XdsServer in a
 * process of their own (so CPU seconds and peak RSS come from /proc), loaded from
 * the workload file, with a local control endpoint that applies an endpoint change.
 *
 * A change goes straight to `SnapshotCache.setModel` — the same call the debouncer
 * makes in `meshcp serve` — without the file watch and its debounce (quiet 100 ms,
 * max 1 s): go-control-plane has no debounce in front of its caches either, and the
 * debounce would add a fixed quiet window to every figure rather than measure the
 * server. The fast path (endpoint-only change keeps every LDS/RDS/CDS variant) is
 * exercised exactly as in production.
 *
 *   node bench/dist/meshcp-server.js --file mesh.yaml [--xds-address 127.0.0.1:0] [--control-address 127.0.0.1:0]
 * prints `READY xds=PORT control=PORT pid=PID` on stdout once serving.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { clusterName, type MeshModel, type MeshService, parseManifests } from '@meshcp/translators';
import { Metrics, SnapshotCache, XdsServer } from 'meshcp';
import { parseAllDocuments } from 'yaml';

interface ChangeRequest {
  service: string;
  namespace: string;
  endpoint: number;
  port: number;
}

function loadModel(path: string): MeshModel {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  const list = Array.isArray(docs) ? docs : [docs];
  const parsed = parseManifests(list.map((d) => ({ source: path, doc: d.toJS() as unknown })));
  if (parsed.errors.length > 0) throw new Error(`workload has errors: ${JSON.stringify(parsed.errors.slice(0, 3))}`);
  return parsed.model;
}

/** The model with one endpoint of one service moved to another port (a new model object, as a source would produce). */
function withEndpointPort(model: MeshModel, change: ChangeRequest): { model: MeshModel; cluster: string } {
  const key = `${change.namespace}/${change.service}`;
  const service = model.services.get(key);
  const endpoint = service?.endpoints[change.endpoint];
  const port = service?.ports[0];
  if (!service || !endpoint || !port) throw new Error(`no endpoint ${change.endpoint} in ${key}`);
  const next: MeshService = {
    ...service,
    endpoints: service.endpoints.map((e, i) => (i === change.endpoint ? { ...e, ports: { ...e.ports, [port.name]: change.port } } : e)),
  };
  const services = new Map(model.services);
  services.set(key, next);
  return { model: { ...model, services }, cluster: clusterName(service.namespace, service.name, port.port) };
}

function splitHostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      file: { type: 'string' },
      'xds-address': { type: 'string', default: '127.0.0.1:0' },
      'control-address': { type: 'string', default: '127.0.0.1:0' },
      'max-duration-s': { type: 'string', default: '1800' },
    },
  });
  if (!values.file) throw new Error('--file is required');
  for (const a of [values['xds-address'], values['control-address']]) {
    if (!a.startsWith('127.') && !a.startsWith('localhost:')) throw new Error('listen addresses must be on loopback');
  }
  const metrics = new Metrics();
  const cache = new SnapshotCache(metrics);
  const xds = new XdsServer(cache, metrics);
  let model = loadModel(values.file);
  cache.setModel(model);
  const xdsPort = await xds.start(values['xds-address']);

  const control = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/healthz') {
      res.end('ok');
      return;
    }
    if (req.method !== 'POST' || req.url !== '/change') {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const change = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChangeRequest;
        const next = withEndpointPort(model, change);
        model = next.model;
        cache.setModel(model);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ clusters: [next.cluster] }));
      } catch (error) {
        res.writeHead(400).end((error as Error).message);
      }
    });
  });
  const { host, port } = splitHostPort(values['control-address']);
  await new Promise<void>((resolve) => control.listen(port, host, resolve));
  const address = control.address();
  const controlPort = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`READY xds=${xdsPort} control=${controlPort} pid=${process.pid}\n`);

  const shutdown = () => {
    control.close();
    xds.stop().finally(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  setTimeout(shutdown, Number(values['max-duration-s']) * 1000).unref();
}

main().catch((error) => {
  process.stderr.write(`meshcp-server: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
