/** xDS resource type URLs as literal types, so a cache or stream cannot mix them up. */
export const LISTENER = 'type.googleapis.com/envoy.config.listener.v3.Listener' as const;
export const ROUTE = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration' as const;
export const CLUSTER = 'type.googleapis.com/envoy.config.cluster.v3.Cluster' as const;
export const ENDPOINT = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment' as const;
export const SECRET = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret' as const;

export type TypeUrl = typeof LISTENER | typeof ROUTE | typeof CLUSTER | typeof ENDPOINT | typeof SECRET;

/**
 * The order in which ADS pushes additions (make before break); removals go in
 * reverse. Secrets come first: clusters and listeners that name them wait (warm)
 * until they arrive, and they name nothing themselves.
 */
export const ADS_ADD_ORDER: readonly TypeUrl[] = [SECRET, CLUSTER, ENDPOINT, LISTENER, ROUTE];

export const ALL_TYPE_URLS: readonly TypeUrl[] = ADS_ADD_ORDER;

const TYPE_URL_PREFIX = 'type.googleapis.com/';

export function isTypeUrl(value: string): value is TypeUrl {
  return (ALL_TYPE_URLS as readonly string[]).includes(value);
}

export function messageNameOf(typeUrl: string): string {
  return typeUrl.startsWith(TYPE_URL_PREFIX) ? typeUrl.slice(TYPE_URL_PREFIX.length) : typeUrl;
}

/** Short names used in logs, metrics and the admin API. */
export const SHORT_NAME: Record<TypeUrl, 'LDS' | 'RDS' | 'CDS' | 'EDS' | 'SDS'> = {
  [LISTENER]: 'LDS',
  [ROUTE]: 'RDS',
  [CLUSTER]: 'CDS',
  [ENDPOINT]: 'EDS',
  [SECRET]: 'SDS',
};

/** Types whose SotW responses carry the full set, so omission means removal. */
export const STATE_OF_THE_WORLD_TYPES: ReadonlySet<string> = new Set([LISTENER, CLUSTER]);
