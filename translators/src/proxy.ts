/** What a connected client is, parsed from its xDS `Node`: the input of translator selection. */
import type { NodeJson } from '@meshcp/xds-protos';
import type { Locality } from './model/types.js';

/** `agent`: `meshcp agent`, which asks only for its workload's SDS secrets (control-plane/src/agent). */
export type ClientKind = 'envoy' | `grpc-${string}` | 'agent' | 'unknown';

/** The user_agent_name `meshcp agent` sends. */
export const AGENT_USER_AGENT = 'meshcp-agent';

export interface Version {
  major: number;
  minor: number;
  patch: number;
}

export interface ProxyInfo {
  nodeId: string;
  clientKind: ClientKind;
  /** Parsed version, undefined when the node did not say or said something unparseable. */
  version?: Version;
  /** What the node said, for the admin API. */
  versionText: string;
  namespace: string;
  service: string;
  locality: Locality;
  outboundPort: number;
  outboundAddress: string;
  /** Port of the inbound listener in front of the proxy's own app, if it wants one. */
  inboundPort?: number;
  /** Where the proxy's own app listens (127.0.0.1:appPort). */
  appPort?: number;
  /** TCP service ports are exposed locally at servicePort + this offset. */
  tcpPortOffset: number;
  /** Port of the transparent-capture listener (iptables redirects the app's outbound TCP there), if captured. */
  capturePort?: number;
  /** Typed extension names the node reports (`node.extensions[].name`); empty when not reported. */
  extensions: string[];
  clientFeatures: string[];
  /** A gRPC client whose bootstrap defines meshcp's certificate provider (node metadata `meshcp.certificate_provider`). */
  certificateProvider?: boolean;
}

/** The xDS Node as decoded from a request (proto3 JSON, proto field names). */
export type NodeLike = NodeJson;

export const DEFAULT_OUTBOUND_PORT = 15001;
export const DEFAULT_OUTBOUND_ADDRESS = '127.0.0.1';
export const METADATA = {
  namespace: 'meshcp.namespace',
  service: 'meshcp.service',
  outboundPort: 'meshcp.outbound_port',
  outboundAddress: 'meshcp.outbound_address',
  inboundPort: 'meshcp.inbound_port',
  appPort: 'meshcp.app_port',
  tcpPortOffset: 'meshcp.tcp_port_offset',
  serviceAccount: 'meshcp.service_account',
  capturePort: 'meshcp.capture_port',
  /** Set by `meshcp bootstrap --workload-cert-dir`: the gRPC bootstrap defines meshcp's certificate provider (gRFC A29). */
  certificateProvider: 'meshcp.certificate_provider',
} as const;

function portFrom(value: unknown): number | undefined {
  const port = Number(value);
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
}

export function parseVersion(text: string | undefined): Version | undefined {
  const match = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(text ?? '');
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3] ?? 0) };
}

export function formatVersion(v: Version): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}

export function compareVersions(a: Version, b: Version): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

function clientKindOf(userAgentName: string | undefined): ClientKind {
  if (!userAgentName) return 'unknown';
  if (userAgentName === 'envoy') return 'envoy';
  if (userAgentName === AGENT_USER_AGENT) return 'agent';
  const grpc = /^gRPC (.+)$/i.exec(userAgentName);
  if (grpc?.[1]) {
    const lang = grpc[1].toLowerCase();
    return lang.includes('node') ? 'grpc-node' : `grpc-${lang.split(/\s+/)[0]}`;
  }
  return 'unknown';
}

export function proxyFromNode(node: NodeLike): ProxyInfo {
  const metadata = node.metadata ?? {};
  const clientKind = clientKindOf(node.user_agent_name);
  const build = node.user_agent_build_version?.version;
  let versionText = node.user_agent_version ?? '';
  let version = parseVersion(versionText);
  let kind = clientKind;
  // C-core names its wrapping language in the version ("C-core 58.0.0 Python 1.85.1"):
  // the kind is that language, the version its release (the C-core number is internal).
  const core = kind === 'grpc-c-core' ? /^C-core\s+\S+\s+(\S+)\s+v?(\d+\.\d+(?:\.\d+)?)/i.exec(versionText) : null;
  if (core?.[1] && core[2]) {
    const language = core[1].toLowerCase();
    kind = `grpc-${language === 'c++' ? 'cpp' : language}`;
    version = parseVersion(core[2]);
  }
  if (build && (build.major_number !== undefined || build.minor_number !== undefined)) {
    version = { major: build.major_number ?? 0, minor: build.minor_number ?? 0, patch: build.patch ?? 0 };
    versionText = formatVersion(version);
  }
  const info: ProxyInfo = {
    nodeId: node.id ?? '',
    clientKind: kind,
    versionText,
    namespace: String(metadata[METADATA.namespace] ?? metadata.NAMESPACE ?? 'default'),
    service: String(metadata[METADATA.service] ?? node.cluster ?? ''),
    locality: {
      ...(node.locality?.region ? { region: node.locality.region } : {}),
      ...(node.locality?.zone ? { zone: node.locality.zone } : {}),
      ...(node.locality?.sub_zone ? { subZone: node.locality.sub_zone } : {}),
    },
    outboundPort: portFrom(metadata[METADATA.outboundPort]) ?? DEFAULT_OUTBOUND_PORT,
    outboundAddress: typeof metadata[METADATA.outboundAddress] === 'string' ? String(metadata[METADATA.outboundAddress]) : DEFAULT_OUTBOUND_ADDRESS,
    tcpPortOffset: Number.isInteger(Number(metadata[METADATA.tcpPortOffset])) ? Number(metadata[METADATA.tcpPortOffset]) : 0,
    extensions: (node.extensions ?? []).map((e) => e.name ?? '').filter(Boolean),
    clientFeatures: node.client_features ?? [],
  };
  if (metadata[METADATA.certificateProvider] === 'true' || metadata[METADATA.certificateProvider] === true) info.certificateProvider = true;
  if (version) info.version = version;
  const inboundPort = portFrom(metadata[METADATA.inboundPort]);
  if (inboundPort) info.inboundPort = inboundPort;
  const appPort = portFrom(metadata[METADATA.appPort]);
  if (appPort) info.appPort = appPort;
  const capturePort = portFrom(metadata[METADATA.capturePort]);
  if (capturePort) info.capturePort = capturePort;
  return info;
}

export function localityKey(locality: Locality): string {
  return `${locality.region ?? ''}/${locality.zone ?? ''}/${locality.subZone ?? ''}`;
}
