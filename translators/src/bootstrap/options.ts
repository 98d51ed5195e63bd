/** What a proxy's bootstrap says about it and where its xDS server is (`meshcp bootstrap` flags, or a sidecar injector). */
export interface BootstrapOptions {
  nodeId: string;
  service: string;
  namespace: string;
  region?: string;
  zone?: string;
  subZone?: string;
  xdsAddress: string;
  adminPort: number;
  outboundPort?: number;
  /** Inbound listener port in front of the proxy's own app, and where that app listens. */
  inboundPort?: number;
  appPort?: number;
  /** TCP services are exposed locally at their port plus this offset. */
  tcpPortOffset?: number;
  delta: boolean;
  /** The workload's service account, stated in the node for meshcp to check against the stream's identity. */
  serviceAccount?: string;
  /** How the proxy reaches meshcp securely; absent only for a server run with --insecure. */
  security?: XdsClientSecurity;
}

/** TLS to the xDS server, and the credential the proxy authenticates with. */
export interface XdsClientSecurity {
  /** The mesh trust bundle (PEM file) the xDS server's certificate must chain to. */
  caFile: string;
  /** A client certificate (SPIFFE SVID) and its key, as files. */
  certFile?: string;
  keyFile?: string;
  /** A ServiceAccount token (its text), sent as `authorization: Bearer …` on the stream. */
  token?: string;
  /** The token as a file that rotates (a projected ServiceAccount token): gRPC clients and Envoy (Google gRPC, file-based metadata) re-read it. */
  tokenFile?: string;
  /** The name the server's certificate must carry (DNS name or IP); default: the xDS host. */
  serverName?: string;
}

/** The node's locality as xDS spells it; only the parts given. */
export function localityOf(options: Pick<BootstrapOptions, 'region' | 'zone' | 'subZone'>): Record<string, string> {
  const locality: Record<string, string> = {};
  if (options.region) locality.region = options.region;
  if (options.zone) locality.zone = options.zone;
  if (options.subZone) locality.sub_zone = options.subZone;
  return locality;
}
