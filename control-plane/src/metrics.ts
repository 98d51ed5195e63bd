import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** All metrics of one control plane instance (a registry each, so tests can run several). */
export class Metrics {
  readonly registry = new Registry();
  readonly connectedStreams = new Gauge({ name: 'meshcp_xds_streams', help: 'Open xDS streams', labelNames: ['mode'], registers: [this.registry] });
  readonly responses = new Counter({
    name: 'meshcp_xds_responses_total',
    help: 'xDS responses sent',
    labelNames: ['type', 'mode'],
    registers: [this.registry],
  });
  readonly acks = new Counter({ name: 'meshcp_xds_acks_total', help: 'xDS ACKs received', labelNames: ['type'], registers: [this.registry] });
  readonly nacks = new Counter({ name: 'meshcp_xds_nacks_total', help: 'xDS NACKs received', labelNames: ['type'], registers: [this.registry] });
  readonly ignoredRequests = new Counter({
    name: 'meshcp_xds_requests_ignored_total',
    help: 'xDS requests ignored, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly rejectedResources = new Counter({
    name: 'meshcp_resources_rejected_total',
    help: 'Resources not published as translated: failed validation, or named what was not published (previous consistent version kept)',
    labelNames: ['type', 'reason'],
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: 'meshcp_xds_auth_failures_total',
    help: 'xDS streams refused: no or bad credentials, or a node claiming another workload than the one that authenticated',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly configErrors = new Gauge({ name: 'meshcp_config_errors', help: 'Source objects currently rejected', registers: [this.registry] });
  readonly snapshots = new Counter({
    name: 'meshcp_snapshots_total',
    help: 'Model updates applied to the cache, by kind',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly translationSeconds = new Histogram({
    name: 'meshcp_translation_seconds',
    help: 'Time to translate and encode one variant',
    labelNames: ['kind'],
    buckets: [0.0005, 0.002, 0.01, 0.05, 0.2, 1, 5],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
