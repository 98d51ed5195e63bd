import { type MeshModel, parseManifests } from '@meshcp/translators';
import { parseAllDocuments } from 'yaml';

export function modelFrom(yaml: string): MeshModel {
  const docs = parseAllDocuments(yaml);
  const list = Array.isArray(docs) ? docs : [docs];
  const parsed = parseManifests(list.map((d) => ({ source: 'test.yaml', doc: d.toJS() as unknown })));
  if (parsed.errors.length > 0) throw new Error(JSON.stringify(parsed.errors));
  return parsed.model;
}

export function serviceYaml(name: string, ports: number[], namespace = 'shop', zone = 'eu-1a'): string {
  return `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: ${name}, namespace: ${namespace}}
spec:
  ports: [{name: http, port: 8080}]
  endpoints:
${ports.map((p) => `    - {address: 127.0.0.1, port: ${p}, locality: {region: eu, zone: ${zone}}}`).join('\n')}
`;
}

export function mesh(...services: string[]): MeshModel {
  return modelFrom(services.join('---\n'));
}

export const ENVOY_NODE = {
  id: 'node-1',
  user_agent_name: 'envoy',
  user_agent_build_version: { version: { major_number: 1, minor_number: 40, patch: 0 } },
  locality: { region: 'eu', zone: 'eu-1a' },
  metadata: { 'meshcp.namespace': 'shop' },
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every 10 ms until it gives a value, or throws naming `what` after `timeoutMs`. */
export async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
