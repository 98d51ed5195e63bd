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
}

/** The node's locality as xDS spells it; only the parts given. */
export function localityOf(options: Pick<BootstrapOptions, 'region' | 'zone' | 'subZone'>): Record<string, string> {
  const locality: Record<string, string> = {};
  if (options.region) locality.region = options.region;
  if (options.zone) locality.zone = options.zone;
  if (options.subZone) locality.sub_zone = options.subZone;
  return locality;
}
