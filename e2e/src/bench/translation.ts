/**
 * Translation benchmark (prints figures; asserts nothing): a mesh of N services ×
 * 10 endpoints through the real SnapshotCache — translate, PGV-check and encode
 * everything one Envoy 1.40 sidecar gets, then apply one endpoint change.
 *   node e2e/dist/bench/translation.js [--services 10000] [--json]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { type MeshModel, type MeshRoute, type MeshService, proxyFromNode, serviceKey } from '@meshcp/translators';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from '@meshcp/xds-protos';
import { Metrics, SnapshotCache, setLogLevel } from 'meshcp';

const { values } = parseArgs({ options: { services: { type: 'string', default: '10000' }, json: { type: 'boolean', default: false } } });
const serviceCount = Number(values.services);
const ZONES = [
  { region: 'eu', zone: 'eu-1a' },
  { region: 'eu', zone: 'eu-1b' },
  { region: 'us', zone: 'us-1a' },
];

function service(i: number, endpointSeed = 0): MeshService {
  return {
    namespace: `ns-${i % 10}`,
    name: `svc-${i}`,
    ports: [{ name: 'http', port: 8080, protocol: 'HTTP' }],
    endpoints: Array.from({ length: 10 }, (_, e) => ({
      address: `10.${(i >> 8) & 255}.${i & 255}.${e + 1 + endpointSeed}`,
      ports: { http: 8080 },
      locality: ZONES[e % 3] as { region: string; zone: string },
      health: 'Healthy' as const,
    })),
    failover: { localityPriority: ['zone', 'region'] },
    loadBalancing: 'RoundRobin',
    connectTimeoutMs: 1000,
  };
}

function buildModel(): MeshModel {
  const services = new Map<string, MeshService>();
  for (let i = 0; i < serviceCount; i++) {
    const s = service(i);
    services.set(serviceKey(s.namespace, s.name), s);
  }
  // Every tenth service splits /v2 traffic to its neighbour.
  const routes: MeshRoute[] = [];
  for (let i = 0; i + 1 < serviceCount; i += 10) {
    const ns = `ns-${i % 10}`;
    const next = service(i + 1);
    routes.push({
      namespace: ns,
      name: `split-${i}`,
      parents: [{ namespace: ns, name: `svc-${i}` }],
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/v2' } }],
          backends: [
            { namespace: next.namespace, name: next.name, port: 8080, weight: 90 },
            { namespace: ns, name: `svc-${i}`, port: 8080, weight: 10 },
          ],
        },
      ],
    });
  }
  return { services, routes };
}

function time<T>(fn: () => T): [T, number] {
  const start = performance.now();
  const result = fn();
  return [result, performance.now() - start];
}

setLogLevel('error');
const proxy = proxyFromNode({
  id: 'bench',
  user_agent_name: 'envoy',
  user_agent_build_version: { version: { major_number: 1, minor_number: 40, patch: 0 } },
  locality: { region: 'eu', zone: 'eu-1a' },
  metadata: { 'meshcp.namespace': 'ns-0' },
});
const cache = new SnapshotCache(new Metrics());
const [model, buildMs] = time(buildModel);
const [, setModelMs] = time(() => cache.setModel(model));
const view = cache.viewFor(proxy);
const [config, configMs] = time(() => ({
  clusters: cache.resources(view, CLUSTER, 'all'),
  listeners: cache.resources(view, LISTENER, 'all'),
  routes: cache.resources(view, ROUTE, 'all'),
}));
const [endpoints, endpointsMs] = time(() => cache.resources(view, ENDPOINT, 'all'));
const bytes = (m: Map<string, { value: Uint8Array }>) => [...m.values()].reduce((sum, r) => sum + r.value.length, 0);

// One endpoint change: a new model in which one service has a different endpoint set.
const changed = new Map(model.services);
const target = service(42, 100);
changed.set(serviceKey(target.namespace, target.name), target);
const [change, changeMs] = time(() => cache.setModel({ services: changed, routes: model.routes }));
const [, reconfigMs] = time(() => cache.resources(view, CLUSTER, 'all'));
const [, reEndpointsMs] = time(() => cache.resources(view, ENDPOINT, 'all'));
const heapMb = process.memoryUsage().heapUsed / 1024 / 1024;

const figures = {
  services: serviceCount,
  endpoints: serviceCount * 10,
  buildModelMs: Math.round(buildMs),
  applyModelMs: Math.round(setModelMs),
  translateEncodeConfigMs: Math.round(configMs),
  translateEncodeEndpointsMs: Math.round(endpointsMs),
  totalFirstSnapshotMs: Math.round(setModelMs + configMs + endpointsMs),
  configBytes: bytes(config.clusters) + bytes(config.listeners) + bytes(config.routes),
  endpointBytes: bytes(endpoints),
  oneEndpointChange: {
    configChanged: change.config,
    clustersChanged: change.clusters.size,
    applyModelMs: Math.round(changeMs * 10) / 10,
    reReadConfigMs: Math.round(reconfigMs * 10) / 10,
    reReadEndpointsMs: Math.round(reEndpointsMs * 10) / 10,
  },
  heapUsedMb: Math.round(heapMb),
};
if (values.json) console.log(JSON.stringify(figures, null, 2));
else {
  console.log(`translation benchmark: ${serviceCount} services × 10 endpoints (${figures.endpoints} endpoints), one Envoy 1.40 sidecar in eu-1a`);
  console.log(
    `  first snapshot: apply model ${figures.applyModelMs} ms, LDS+RDS+CDS translate+PGV+encode ${figures.translateEncodeConfigMs} ms, EDS (${serviceCount} CLAs) ${figures.translateEncodeEndpointsMs} ms → ${figures.totalFirstSnapshotMs} ms`,
  );
  console.log(
    `  encoded: config ${(figures.configBytes / 1e6).toFixed(1)} MB, endpoints ${(figures.endpointBytes / 1e6).toFixed(1)} MB; heap ${figures.heapUsedMb} MB`,
  );
  const c = figures.oneEndpointChange;
  console.log(
    `  one endpoint change: apply (diff) ${c.applyModelMs} ms (config changed: ${c.configChanged}, clusters re-translated: ${c.clustersChanged}), re-read config ${c.reReadConfigMs} ms, re-read all EDS ${c.reReadEndpointsMs} ms`,
  );
}
