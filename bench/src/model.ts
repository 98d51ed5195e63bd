/** The benchmark's mesh model on the server side: loading the workload file and applying one endpoint change. */
import { readFileSync } from 'node:fs';
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
