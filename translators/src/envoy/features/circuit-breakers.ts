import type { EnvoyFeature } from '../feature.js';

/** Connection and request limits at the default routing priority. */
export const circuitBreakers: EnvoyFeature = {
  name: 'circuit-breakers',
  cluster(cluster, service) {
    const cb = service.circuitBreakers;
    if (!cb) return;
    cluster.circuit_breakers = {
      thresholds: [
        {
          priority: 'DEFAULT',
          ...(cb.maxConnections !== undefined ? { max_connections: cb.maxConnections } : {}),
          ...(cb.maxPendingRequests !== undefined ? { max_pending_requests: cb.maxPendingRequests } : {}),
          ...(cb.maxRequests !== undefined ? { max_requests: cb.maxRequests } : {}),
          ...(cb.maxRetries !== undefined ? { max_retries: cb.maxRetries } : {}),
        },
      ],
    };
  },
};
