import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import {
  type EnvoyResources,
  edsClusterNames,
  envoyProfile,
  type MeshModel,
  parseManifests,
  proxyFromNode,
  translateEnvoy,
  translationFor,
} from '../src/index.js';

export const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), '..', 'testdata');

export function fixtureNames(): string[] {
  return readdirSync(join(TESTDATA, 'in'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.replace(/\.yaml$/, ''))
    .sort();
}

export function loadFixture(name: string): MeshModel {
  const file = join(TESTDATA, 'in', `${name}.yaml`);
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const parsed = parseManifests((Array.isArray(docs) ? docs : [docs]).map((d) => ({ source: file, doc: d.toJS() as unknown })));
  if (parsed.errors.length > 0) throw new Error(`fixture ${name} is invalid: ${JSON.stringify(parsed.errors)}`);
  return parsed.model;
}

/** The proxy every golden file is rendered for: a sidecar of shop/web in eu/eu-1a. */
export function goldenProxy(minor: string) {
  const [major, minorNumber] = minor.split('.').map(Number);
  return proxyFromNode({
    id: 'golden',
    user_agent_name: 'envoy',
    user_agent_build_version: { version: { major_number: major ?? 1, minor_number: minorNumber ?? 0, patch: 0 } },
    locality: { region: 'eu', zone: 'eu-1a' },
    metadata: { 'meshcp.namespace': 'shop', 'meshcp.service': 'web', 'meshcp.inbound_port': 15006, 'meshcp.app_port': 8080, 'meshcp.tcp_port_offset': 10000 },
  });
}

export function renderFixture(name: string, minor: string): EnvoyResources {
  const proxy = goldenProxy(minor);
  return translateEnvoy(loadFixture(name), proxy, envoyProfile(proxy));
}

/** A gRPC Node client (grpc-js-xds 1.14.1) in eu/eu-1a. */
export function grpcProxy() {
  return proxyFromNode({ id: 'golden-grpc', user_agent_name: 'gRPC Node Pure JS', user_agent_version: '1.14.1', locality: { region: 'eu', zone: 'eu-1a' } });
}

/** A grpc-go 1.85.0 client (has mesh mTLS, gRFC A29), for the goldens of what a capable client is sent. */
export function grpcGoProxy() {
  return proxyFromNode({
    id: 'golden-grpc-go',
    user_agent_name: 'gRPC Go',
    user_agent_version: '1.85.0',
    locality: { region: 'eu', zone: 'eu-1a' },
    metadata: { 'meshcp.certificate_provider': 'true' },
  });
}

export function renderGrpcFixture(name: string, proxy = grpcProxy()): EnvoyResources & { degraded: string[] } {
  const model = loadFixture(name);
  const translation = translationFor(proxy);
  const endpoints = edsClusterNames(model).flatMap((cluster) => translation.endpoints(model, cluster) ?? []);
  return { ...translation.config(model), endpoints };
}
