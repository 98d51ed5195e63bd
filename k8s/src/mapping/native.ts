/**
 * Native Kubernetes objects → the mesh model, with no CRD needed: a Service gives
 * the ports, its EndpointSlices the endpoints, their Nodes the locality.
 * Projections keep only the fields the mapping reads, so a change to anything
 * else (labels, annotations, managedFields, status heartbeats) is not a change.
 * Everything here is pure.
 */
import { isIP } from 'node:net';
import { DEFAULTS, type Endpoint, type EndpointHealth, type MeshService, type Protocol, type ServicePort } from '@meshcp/translators';

type Obj = Record<string, unknown>;

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const REGION_LABEL = 'topology.kubernetes.io/region';
/** Pre-1.17 names, still set by some installers. */
const LEGACY_ZONE_LABEL = 'failure-domain.beta.kubernetes.io/zone';
const LEGACY_REGION_LABEL = 'failure-domain.beta.kubernetes.io/region';

export interface ServiceView {
  namespace: string;
  name: string;
  ports: { name: string; port: number; targetPort?: number; protocol: Protocol }[];
  /** Its cluster IPs (both families when dual-stack); empty for a headless Service. */
  addresses: string[];
}

export interface SliceEndpointView {
  address: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  zone?: string;
  nodeName?: string;
}

export interface SliceView {
  namespace: string;
  name: string;
  serviceName: string;
  ports: { name: string; port: number }[];
  endpoints: SliceEndpointView[];
}

export interface NodeView {
  name: string;
  zone?: string;
  region?: string;
}

function obj(value: unknown): Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Obj) : {};
}

function list(value: unknown): Obj[] {
  return Array.isArray(value) ? value.map(obj) : [];
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function bool(value: unknown): boolean | undefined {
  return typeof value === 'boolean' ? value : undefined;
}

/**
 * A Service port's protocol: `appProtocol` first (the Kubernetes field for it),
 * then the port name's prefix (`http-…`, `grpc-…`, Istio's convention), else
 * HTTP, because a mesh sidecar's outbound listener routes HTTP by Host; name a
 * port `tcp-…` or set `appProtocol: tcp` for raw TCP (`https-…`/`tls-…` are TCP
 * too: TLS passes through). UDP/SCTP: not meshed.
 */
export function portProtocol(port: { name?: string; protocol?: string; appProtocol?: string }): Protocol | undefined {
  if (port.protocol !== undefined && port.protocol !== 'TCP') return undefined;
  const byAppProtocol: Record<string, Protocol> = {
    http: 'HTTP',
    'kubernetes.io/h2c': 'HTTP2',
    http2: 'HTTP2',
    h2c: 'HTTP2',
    grpc: 'GRPC',
    tcp: 'TCP',
    https: 'TCP',
    tls: 'TCP',
  };
  const app = port.appProtocol?.toLowerCase();
  if (app && byAppProtocol[app]) return byAppProtocol[app];
  const prefix = (port.name ?? '').toLowerCase().split('-')[0] ?? '';
  // TLS is passed through as TCP: the sidecar cannot route it by Host.
  const byName: Record<string, Protocol> = { http: 'HTTP', http2: 'HTTP2', h2c: 'HTTP2', grpc: 'GRPC', tcp: 'TCP', https: 'TCP', tls: 'TCP' };
  return byName[prefix] ?? DEFAULTS.portProtocol;
}

/** The model's name for a Service port: its own, or `port-N` for the single unnamed port Kubernetes allows. */
export function modelPortName(name: string, port: number): string {
  return name === '' ? `port-${port}` : name;
}

export function projectService(object: Obj): ServiceView | undefined {
  const metadata = obj(object.metadata);
  const spec = obj(object.spec);
  // ExternalName Services are DNS aliases with no endpoints to route to.
  if (spec.type === 'ExternalName') return undefined;
  const ports: ServiceView['ports'] = [];
  for (const p of list(spec.ports)) {
    const protocol = portProtocol({ name: str(p.name), protocol: str(p.protocol), appProtocol: str(p.appProtocol) });
    if (protocol === undefined || typeof p.port !== 'number') continue;
    const port: ServiceView['ports'][number] = { name: str(p.name) ?? '', port: p.port, protocol };
    if (typeof p.targetPort === 'number') port.targetPort = p.targetPort;
    ports.push(port);
  }
  return { namespace: String(metadata.namespace), name: String(metadata.name), ports, addresses: clusterAddresses(spec) };
}

/** A Service's cluster IPs as the API server assigned them (`None`: headless). */
function clusterAddresses(spec: Obj): string[] {
  const listed = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : [spec.clusterIP];
  const addresses = listed.filter((ip): ip is string => typeof ip === 'string' && isIP(ip) !== 0);
  return [...new Set(addresses)].slice(0, 2);
}

export function projectSlice(object: Obj): SliceView | undefined {
  const metadata = obj(object.metadata);
  const serviceName = str(obj(metadata.labels)[SERVICE_NAME_LABEL]);
  // FQDN slices name hosts, not addresses; slices without the label belong to no Service.
  if (!serviceName || (object.addressType !== 'IPv4' && object.addressType !== 'IPv6')) return undefined;
  const ports = list(object.ports)
    .filter((p) => typeof p.port === 'number' && (p.protocol === undefined || p.protocol === 'TCP'))
    .map((p) => ({ name: str(p.name) ?? '', port: p.port as number }));
  const endpoints: SliceEndpointView[] = [];
  for (const e of list(object.endpoints)) {
    // Consumers use the first address only (the API keeps the others for compatibility).
    const address = str(Array.isArray(e.addresses) ? e.addresses[0] : undefined);
    if (!address) continue;
    const conditions = obj(e.conditions);
    const view: SliceEndpointView = { address };
    const ready = bool(conditions.ready);
    const serving = bool(conditions.serving);
    const terminating = bool(conditions.terminating);
    if (ready !== undefined) view.ready = ready;
    if (serving !== undefined) view.serving = serving;
    if (terminating !== undefined) view.terminating = terminating;
    const zone = str(e.zone);
    const nodeName = str(e.nodeName);
    if (zone) view.zone = zone;
    if (nodeName) view.nodeName = nodeName;
    endpoints.push(view);
  }
  return { namespace: String(metadata.namespace), name: String(metadata.name), serviceName, ports, endpoints };
}

export function projectNode(object: Obj): NodeView {
  const metadata = obj(object.metadata);
  const labels = obj(metadata.labels);
  const node: NodeView = { name: String(metadata.name) };
  const zone = str(labels[ZONE_LABEL]) ?? str(labels[LEGACY_ZONE_LABEL]);
  const region = str(labels[REGION_LABEL]) ?? str(labels[LEGACY_REGION_LABEL]);
  if (zone) node.zone = zone;
  if (region) node.region = region;
  return node;
}

/**
 * EndpointSlice conditions → endpoint health. Unset `ready`/`serving` mean
 * "ready" (the API says consumers should treat unknown as ready); `serving`
 * defaults to `ready`.
 *  - not terminating, ready          → Healthy
 *  - terminating but still serving   → Draining (finish in-flight work, no new load)
 *  - anything else                   → Unhealthy
 */
export function endpointHealth(conditions: { ready?: boolean; serving?: boolean; terminating?: boolean }): EndpointHealth {
  const ready = conditions.ready ?? true;
  const serving = conditions.serving ?? ready;
  if (conditions.terminating) return serving ? 'Draining' : 'Unhealthy';
  return ready ? 'Healthy' : 'Unhealthy';
}

const HEALTH_RANK: Record<EndpointHealth, number> = { Healthy: 0, Draining: 1, Unhealthy: 2 };

/** One Service and its EndpointSlices (any order) → a MeshService; undefined when it has no meshable port. */
export function nativeMeshService(service: ServiceView, slices: readonly SliceView[], nodes: ReadonlyMap<string, NodeView>): MeshService | undefined {
  if (service.ports.length === 0) return undefined;
  const ports: ServicePort[] = service.ports.map((p) => ({ name: modelPortName(p.name, p.port), port: p.port, protocol: p.protocol }));
  const byAddress = new Map<string, Endpoint>();
  // Slice order is by name so that the endpoint order does not depend on event order.
  const ordered = slices.filter((s) => s.namespace === service.namespace && s.serviceName === service.name).sort((a, b) => a.name.localeCompare(b.name));
  for (const slice of ordered) {
    const endpointPorts: Record<string, number> = {};
    for (const p of service.ports) {
      // The EndpointSlice controller names slice ports after the Service's ports.
      const target = slice.ports.find((sp) => sp.name === p.name)?.port ?? p.targetPort ?? p.port;
      endpointPorts[modelPortName(p.name, p.port)] = target;
    }
    for (const e of slice.endpoints) {
      const node = e.nodeName ? nodes.get(e.nodeName) : undefined;
      const locality: Endpoint['locality'] = {};
      if (node?.region) locality.region = node.region;
      const zone = e.zone ?? node?.zone;
      if (zone) locality.zone = zone;
      const endpoint: Endpoint = { address: e.address, ports: { ...endpointPorts }, locality, health: endpointHealth(e) };
      const existing = byAddress.get(e.address);
      // An address in two slices (a slice being replaced): keep its healthiest view.
      if (!existing || HEALTH_RANK[endpoint.health] < HEALTH_RANK[existing.health]) byAddress.set(e.address, endpoint);
    }
  }
  const endpoints = [...byAddress.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  return {
    namespace: service.namespace,
    name: service.name,
    ports,
    ...(service.addresses.length > 0 ? { addresses: [...service.addresses] } : {}),
    endpoints,
    failover: { localityPriority: [...DEFAULTS.localityPriority] },
    loadBalancing: DEFAULTS.loadBalancing,
    connectTimeoutMs: DEFAULTS.connectTimeoutMs,
  };
}
