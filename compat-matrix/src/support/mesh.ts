import { stringify } from 'yaml';

export interface MeshServiceSpec {
  name: string;
  namespace?: string;
  port?: number;
  endpoints: { port: number; zone?: string; region?: string; health?: string; address?: string; priority?: number }[];
}

/** MeshService manifests (plus optional raw YAML documents) the way a user writes them. */
export function meshYaml(services: MeshServiceSpec[], extra = ''): string {
  const docs = services.map((s) =>
    stringify({
      apiVersion: 'meshcp.io/v1alpha1',
      kind: 'MeshService',
      metadata: { name: s.name, namespace: s.namespace ?? 'shop' },
      spec: {
        ports: [{ name: 'http', port: s.port ?? 8080, protocol: 'HTTP' }],
        endpoints: s.endpoints.map((e) => ({
          address: e.address ?? '127.0.0.1',
          port: e.port,
          locality: { region: e.region ?? 'eu', zone: e.zone ?? 'eu-1a' },
          ...(e.health ? { health: e.health } : {}),
          ...(e.priority !== undefined ? { priority: e.priority } : {}),
        })),
      },
    }),
  );
  return [...docs, ...(extra ? [extra] : [])].join('---\n');
}

/** An HTTPRoute on Service `parent` sending `prefix` to weighted backends (port 8080). */
export function splitRouteYaml(parent: string, prefix: string, backends: { name: string; weight: number }[], namespace = 'shop'): string {
  return stringify({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: `${parent}-split`, namespace },
    spec: {
      parentRefs: [{ kind: 'Service', name: parent }],
      rules: [
        { matches: [{ path: { type: 'PathPrefix', value: prefix } }], backendRefs: backends.map((b) => ({ name: b.name, port: 8080, weight: b.weight })) },
      ],
    },
  });
}

/** Envoy admin `/clusters` text as host:port lists per cluster. */
export function parseClusterHosts(text: string): Map<string, string[]> {
  const hosts = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const match = /^(.+?)::(\d+\.\d+\.\d+\.\d+:\d+)::health_flags::/.exec(line);
    if (!match) continue;
    const list = hosts.get(match[1] as string) ?? [];
    list.push(match[2] as string);
    hosts.set(match[1] as string, list);
  }
  return hosts;
}

/** A MeshService whose one endpoint is its own sidecar's inbound port, with an identity and an mTLS mode. */
export function mtlsServiceYaml(name: string, serviceAccount: string, mode: 'STRICT' | 'PERMISSIVE' | 'DISABLE', inboundPort: number): string {
  return `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: ${name}, namespace: shop}
spec:
  serviceAccount: ${serviceAccount}
  mtls: {mode: ${mode}}
  ports: [{name: http, port: 8080, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, port: ${inboundPort}}]
`;
}
