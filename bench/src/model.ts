/** The benchmark's mesh model on the server side: loading the workload file and applying one endpoint change. */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { clusterName, type MeshModel, type MeshService, parseManifests } from '@meshcp/translators';
import { parseAllDocuments } from 'yaml';

export interface ChangeRequest {
  service: string;
  namespace: string;
  endpoint: number;
  port: number;
}

export function loadModel(path: string): MeshModel {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  const list = Array.isArray(docs) ? docs : [docs];
  const parsed = parseManifests(list.map((d) => ({ source: path, doc: d.toJS() as unknown })));
  if (parsed.errors.length > 0) throw new Error(`workload has errors: ${JSON.stringify(parsed.errors.slice(0, 3))}`);
  return parsed.model;
}

/** The model with one endpoint of one service moved to another port (a new model object, as a source would produce). */
export function withEndpointPort(model: MeshModel, change: ChangeRequest): { model: MeshModel; cluster: string } {
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

export function splitHostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}

/** Reads a JSON POST body. */
export function readBody(req: import('node:http').IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * The control endpoint every bench server answers the load generator on: `GET /healthz`,
 * `POST /change` (the body a ChangeRequest; `apply` returns the changed cluster's name),
 * optionally `GET /metrics`. Resolves with the port it listens on.
 */
export async function startControlServer(
  address: string,
  apply: (change: ChangeRequest) => string,
  metrics?: (res: ServerResponse) => void,
): Promise<{ port: number; close: () => void }> {
  const control = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/healthz') {
      res.end('ok');
      return;
    }
    if (metrics && req.method === 'GET' && req.url === '/metrics') {
      metrics(res);
      return;
    }
    if (req.method !== 'POST' || req.url !== '/change') {
      res.writeHead(404).end();
      return;
    }
    readBody(req).then((body) => {
      try {
        const cluster = apply(JSON.parse(body) as ChangeRequest);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ clusters: [cluster] }));
      } catch (error) {
        res.writeHead(400).end((error as Error).message);
      }
    });
  });
  // The load generator posts changes on one kept-alive connection; Node closes an idle one after 5 s, and a POST sent
  // as it closes fails with EOF (Go does not retry a POST). A soak run lost its change 8,652 that way after a pause.
  control.keepAliveTimeout = 120_000;
  const { host, port } = splitHostPort(address);
  await new Promise<void>((resolve) => control.listen(port, host, resolve));
  const bound = control.address();
  return { port: typeof bound === 'object' && bound ? bound.port : 0, close: () => control.close() };
}
