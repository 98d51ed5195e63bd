/**
 * The benchmark workload: S services × E endpoints in namespace `shop`, endpoints
 * spread round-robin over three zones of one region, zone → region failover. Every
 * endpoint has its own address, so a change can name it by (service, index).
 */
import { stringify } from 'yaml';

export interface WorkloadOptions {
  services: number;
  endpointsPerService: number;
  namespace?: string;
  region?: string;
  zones?: string[];
  port?: number;
}

export const DEFAULT_ZONES = ['eu-1a', 'eu-1b', 'eu-1c'];

export function serviceName(index: number): string {
  return `svc-${String(index).padStart(4, '0')}`;
}

export interface WorkloadEndpoint {
  address: string;
  port: number;
  zone: string;
}

export interface Workload {
  namespace: string;
  region: string;
  zones: string[];
  port: number;
  /** `namespace/name` → endpoints in model order. */
  services: Map<string, WorkloadEndpoint[]>;
}

export function buildWorkload(options: WorkloadOptions): Workload {
  const namespace = options.namespace ?? 'shop';
  const zones = options.zones ?? DEFAULT_ZONES;
  const services = new Map<string, WorkloadEndpoint[]>();
  let n = 0;
  for (let s = 0; s < options.services; s++) {
    const endpoints: WorkloadEndpoint[] = [];
    for (let e = 0; e < options.endpointsPerService; e++, n++) {
      // 10.0.0.1, 10.0.0.2, …: unique per endpoint.
      const m = n + 1;
      const address = `10.${(m >> 16) & 255}.${(m >> 8) & 255}.${m & 255}`;
      endpoints.push({ address, port: 9000 + e, zone: zones[(s + e) % zones.length] ?? 'eu-1a' });
    }
    services.set(`${namespace}/${serviceName(s)}`, endpoints);
  }
  return { namespace, region: options.region ?? 'eu', zones, port: options.port ?? 8080, services };
}

/** The workload as meshcp's file format (MeshService documents). */
export function workloadYaml(w: Workload): string {
  const docs: string[] = [];
  for (const [key, endpoints] of w.services) {
    const name = key.slice(key.indexOf('/') + 1);
    docs.push(
      stringify({
        apiVersion: 'meshcp.io/v1alpha1',
        kind: 'MeshService',
        metadata: { name, namespace: w.namespace },
        spec: {
          ports: [{ name: 'http', port: w.port, protocol: 'HTTP' }],
          endpoints: endpoints.map((e) => ({ address: e.address, port: e.port, locality: { region: w.region, zone: e.zone } })),
          failover: { localityPriority: ['zone', 'region'], overprovisioningFactor: 140 },
        },
      }),
    );
  }
  return docs.join('---\n');
}

/** What the go-control-plane peer needs to apply a change by (service, index). */
export function workloadJson(w: Workload): string {
  const services: Record<string, { address: string; port: number }[]> = {};
  for (const [key, endpoints] of w.services) services[key] = endpoints.map((e) => ({ address: e.address, port: e.port }));
  return JSON.stringify({ port: w.port, services });
}
