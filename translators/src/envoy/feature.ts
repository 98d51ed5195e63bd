/**
 * The shape of one translation feature. A feature is one file under `features/`
 * that says what it adds at each place Envoy config is built — resources of its
 * own, HTTP filters, routes, clusters, endpoints — and is listed once in
 * `features/index.ts`. The core translation (`translate.ts`) calls every
 * registered feature at each place, in registration order, so adding SDS, RBAC or
 * tracing is one new file plus one line there (the shape of Envoy Gateway's
 * HTTP filter registry).
 *
 * Hooks are pure: they read the model, the proxy's scope and its profile, and
 * write only the object they are handed or return new resources.
 */
import type { Cluster, HttpFilter, LbEndpoint, Listener, Route, RouteAction, RouteConfiguration } from '@meshcp/xds-protos';
import type { Endpoint, MeshModel, MeshService, RouteMatch, RouteRule, ServicePort } from '../model/types.js';
import type { ProxyInfo } from '../proxy.js';
import type { EnvoyProfile } from './capabilities.js';

/** The inputs that make Envoy config (LDS/RDS/CDS) differ between proxies. */
export type EnvoyConfigScope = Pick<
  ProxyInfo,
  'outboundAddress' | 'outboundPort' | 'namespace' | 'service' | 'inboundPort' | 'appPort' | 'tcpPortOffset' | 'capturePort'
>;

/** Everything a hook may read. */
export interface EnvoyContext {
  readonly model: MeshModel;
  readonly scope: EnvoyConfigScope;
  readonly profile: EnvoyProfile;
  /** Every registered feature's HTTP filters for a connection manager of this direction (router excluded). */
  httpFilters(direction: TrafficDirection): HttpFilter[];
}

/** Resources a feature adds beside the core ones. */
export interface FeatureResources {
  listeners?: Listener[];
  routes?: RouteConfiguration[];
  clusters?: Cluster[];
}

export type TrafficDirection = 'outbound' | 'inbound';

export interface EnvoyFeature {
  /** Shown in errors and docs; unique. */
  readonly name: string;
  /** Listeners, route configurations and clusters of its own (appended after the core ones). */
  resources?(ctx: EnvoyContext): FeatureResources;
  /** HTTP filters for each HTTP connection manager of this direction, placed before the router. */
  httpFilters?(ctx: EnvoyContext, direction: TrafficDirection): HttpFilter[];
  /** Adjusts a listener once every listener is built (the core's and other features'). */
  listener?(listener: Listener, ctx: EnvoyContext): void;
  /** Adjusts the cluster of one service port (before its discovery type is set). */
  cluster?(cluster: Cluster, service: MeshService, port: ServicePort, ctx: EnvoyContext): void;
  /**
   * Adjusts the route made for one match of a rule. `action` is the forwarding
   * action, absent when the route answers directly (e.g. a rule whose backends all weigh 0).
   */
  route?(route: Route, action: RouteAction | undefined, rule: RouteRule, match: RouteMatch, ctx: EnvoyContext): void;
  /** Adjusts one endpoint of a ClusterLoadAssignment. */
  endpoint?(lbEndpoint: LbEndpoint, endpoint: Endpoint, profile: EnvoyProfile): void;
  /** What the model asks of this feature that the proxy's version cannot be given in any form. */
  degraded?(ctx: Pick<EnvoyContext, 'model' | 'profile'>): string[];
}
