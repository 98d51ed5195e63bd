/**
 * Mesh-wide OpenTelemetry tracing (MeshConfig spec.tracing). Every HTTP connection
 * manager of the sidecar — the outbound listener and the inbound one — reports its
 * spans over OTLP/gRPC to one collector cluster, named for the proxy's own service
 * (`service.namespace`, the OTel resource attribute `service.name`), so a request
 * that crosses two sidecars shows as a client span of the caller's service and a
 * server span of the callee's. Envoy's OpenTelemetry tracer reads and writes W3C
 * trace context (`traceparent`/`tracestate`) itself; the application copies
 * `traceparent` and `x-request-id` from the request it serves to the requests it makes.
 *
 * `random_sampling` is the share of requests the first sidecar starts a trace for.
 * The decision travels in `x-request-id` (Envoy's UUID request id carries a trace
 * bit): the next sidecar keeps it instead of tossing its own coin, so a trace is whole
 * or absent. `traceparent`'s sampled flag alone does not carry it — Envoy's local
 * decision wins (e2e/test/tracing.test.ts shows both).
 *
 * Capability 'tracing.openTelemetry': the tracer's fields used here (grpc_service,
 * service_name; HCM tracing.provider, random_sampling) are the same in every API of
 * 1.33 … 1.40 (later releases only add optional fields), so the row's only job is
 * node.extensions: a build without `envoy.tracers.opentelemetry` would NACK the
 * listener, so it gets no tracing and the proxy lists it as degraded.
 */

import { isIP } from 'node:net';
import type { Cluster, Listener } from '@meshcp/xds-protos';
import type { TracingSettings } from '../../model/types.js';
import { HTTP_CONNECTION_MANAGER } from '../../type-urls.js';
import { type EnvoyProfile, supports } from '../capabilities.js';
import { grpcServerCluster, setDnsResolution } from '../cluster.js';
import type { EnvoyConfigScope, EnvoyFeature } from '../feature.js';

/** The cluster every sidecar sends its spans to (no service cluster name lacks a ':port', so none can clash). */
export const TRACING_COLLECTOR_CLUSTER = 'meshcp-tracing-collector';

/** OTel `service.name` of a proxy's spans: its mesh service, as `name.namespace`. */
export function tracingServiceName(scope: Pick<EnvoyConfigScope, 'service' | 'namespace'>): string | undefined {
  return scope.service ? `${scope.service}.${scope.namespace}` : undefined;
}

function collectorCluster(tracing: TracingSettings, profile: EnvoyProfile): Cluster {
  const { address, port } = tracing.collector;
  // OTLP/gRPC: HTTP/2 to the collector.
  const cluster = grpcServerCluster(TRACING_COLLECTOR_CLUSTER, address, port);
  if (isIP(address) === 0) setDnsResolution(cluster, profile);
  else cluster.type = 'STATIC';
  return cluster;
}

function tracingConfig(tracing: TracingSettings, scope: EnvoyConfigScope): object {
  const serviceName = tracingServiceName(scope);
  return {
    provider: {
      name: 'envoy.tracers.opentelemetry',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig',
        grpc_service: { envoy_grpc: { cluster_name: TRACING_COLLECTOR_CLUSTER } },
        ...(serviceName ? { service_name: serviceName } : {}),
      },
    },
    random_sampling: { value: tracing.samplingPercent },
  };
}

function addTracing(listener: Listener, tracing: object): void {
  for (const chain of listener.filter_chains ?? []) {
    for (const filter of chain.filters ?? []) {
      const config = filter.typed_config as Record<string, unknown> | undefined;
      if (config?.['@type'] === HTTP_CONNECTION_MANAGER) config.tracing = tracing;
    }
  }
}

export const tracing: EnvoyFeature = {
  name: 'tracing',
  resources(ctx) {
    const settings = ctx.model.settings?.tracing;
    if (!settings || !supports(ctx.profile, 'tracing.openTelemetry')) return {};
    return { clusters: [collectorCluster(settings, ctx.profile)] };
  },
  listener(listener, { model, scope, profile }) {
    const settings = model.settings?.tracing;
    if (!settings || !supports(profile, 'tracing.openTelemetry')) return;
    addTracing(listener, tracingConfig(settings, scope));
  },
  degraded({ model, profile }) {
    if (!model.settings?.tracing || supports(profile, 'tracing.openTelemetry')) return [];
    return ['MeshConfig spec.tracing: this Envoy build lacks the envoy.tracers.opentelemetry extension (node.extensions), so it reports no spans'];
  },
};
