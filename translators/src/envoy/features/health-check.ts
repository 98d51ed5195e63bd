import type { HealthCheck } from '@meshcp/xds-protos';
import { durationText, isHttp2 } from '../cluster.js';
import type { EnvoyFeature } from '../feature.js';

/** Active health checks of a service, by the port's protocol. */
export const healthCheck: EnvoyFeature = {
  name: 'health-check',
  cluster(cluster, service, port) {
    const hc = service.healthCheck;
    if (!hc) return;
    const check: HealthCheck = {
      timeout: durationText(hc.timeoutMs),
      interval: durationText(hc.intervalMs),
      unhealthy_threshold: hc.unhealthyThreshold,
      healthy_threshold: hc.healthyThreshold,
      // Probe newly added hosts at once instead of after the first interval.
      no_traffic_interval: durationText(hc.intervalMs),
    };
    if (port.protocol === 'GRPC') check.grpc_health_check = { service_name: '' };
    else if (port.protocol === 'TCP') check.tcp_health_check = {};
    else check.http_health_check = { path: hc.path, ...(isHttp2(port) ? { codec_client_type: 'HTTP2' as const } : {}) };
    cluster.health_checks = [check];
  },
};
