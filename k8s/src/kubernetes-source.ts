/**
 * The Kubernetes source: informers for Services, EndpointSlices, Nodes (for
 * topology labels), MeshServices and HTTPRoutes (both optional CRDs, picked up
 * when installed), mapped to the mesh model.
 *
 * - `start` resolves only once every informer has its initial list, and only
 *   then is the first model delivered: nothing partial or empty is ever published
 *   because a list is not in yet (Contour #602 / OSM #4085).
 * - After that, any change recomputes the model (coalesced per event-loop turn)
 *   and delivers it only if the mapped model or its errors changed; debouncing
 *   happens in the control plane.
 * - While the API server is away each informer keeps its last view, so the last
 *   good model keeps being served; it catches up when the informers reconnect.
 */
import { emptyLastGood, type LastGoodState, type MeshSource, type SourceResult } from '@meshcp/translators';
import type { KubeClient } from './client.js';
import { Informer, type InformerOptions, type InformerStats, type ResourceType } from './informer.js';
import { type Logger, logger } from './log.js';
import { type Assembled, assembleModel, type ObjectReport } from './mapping/assemble.js';
import { type CustomObjectView, projectCustom } from './mapping/custom.js';
import { type NodeView, projectNode, projectService, projectSlice, type ServiceView, type SliceView } from './mapping/native.js';

export const RESOURCES = {
  services: { name: 'services', path: '/api/v1/services' },
  endpointSlices: { name: 'endpointslices.discovery.k8s.io', path: '/apis/discovery.k8s.io/v1/endpointslices' },
  nodes: { name: 'nodes', path: '/api/v1/nodes' },
  meshServices: { name: 'meshservices.meshcp.io', path: '/apis/meshcp.io/v1alpha1/meshservices', optional: true },
  httpRoutes: { name: 'httproutes.gateway.networking.k8s.io', path: '/apis/gateway.networking.k8s.io/v1/httproutes', optional: true },
  accessPolicies: { name: 'meshaccesspolicies.meshcp.io', path: '/apis/meshcp.io/v1alpha1/meshaccesspolicies', optional: true },
  referenceGrants: {
    name: 'referencegrants.gateway.networking.k8s.io',
    path: '/apis/gateway.networking.k8s.io/v1beta1/referencegrants',
    optional: true,
  },
} as const satisfies Record<string, ResourceType>;

export interface KubernetesSourceOptions extends InformerOptions {
  log?: Logger;
}

export class KubernetesSource implements MeshSource {
  readonly name: string;
  private readonly log: Logger;
  private readonly services: Informer<ServiceView>;
  private readonly slices: Informer<SliceView>;
  private readonly nodes: Informer<NodeView>;
  private readonly meshServices: Informer<CustomObjectView>;
  private readonly httpRoutes: Informer<CustomObjectView>;
  private readonly accessPolicies: Informer<CustomObjectView>;
  private readonly referenceGrants: Informer<CustomObjectView>;
  private onUpdate?: (result: SourceResult) => void;
  private scheduled = false;
  private lastGood: LastGoodState = emptyLastGood();
  private lastPublished = '';
  private lastErrors = '';
  private assembled?: Assembled;
  private readonly reportListeners: (() => void)[] = [];
  /** Models delivered, for tests and metrics: every one is a complete view. */
  published = 0;

  constructor(
    readonly client: KubeClient,
    options: KubernetesSourceOptions = {},
  ) {
    this.name = `kubernetes:${client.server}`;
    this.log = options.log ?? logger('k8s-source');
    const changed = () => this.schedule();
    const make = <T>(resource: ResourceType, project: (o: Record<string, unknown>) => T | undefined) =>
      new Informer<T>(client, resource, project, changed, this.log, options);
    this.services = make(RESOURCES.services, projectService);
    this.slices = make(RESOURCES.endpointSlices, projectSlice);
    this.nodes = make(RESOURCES.nodes, projectNode);
    this.meshServices = make(RESOURCES.meshServices, (o) => projectCustom('MeshService', o));
    this.httpRoutes = make(RESOURCES.httpRoutes, (o) => projectCustom('HTTPRoute', o));
    this.accessPolicies = make(RESOURCES.accessPolicies, (o) => projectCustom('MeshAccessPolicy', o));
    this.referenceGrants = make(RESOURCES.referenceGrants, (o) => projectCustom('ReferenceGrant', o));
  }

  private get informers(): Informer<unknown>[] {
    return [this.services, this.slices, this.nodes, this.meshServices, this.httpRoutes, this.accessPolicies, this.referenceGrants] as Informer<unknown>[];
  }

  async start(onUpdate: (result: SourceResult) => void): Promise<void> {
    const started = Date.now();
    for (const informer of this.informers) informer.start();
    await Promise.all(this.informers.map((i) => i.synced));
    this.onUpdate = onUpdate;
    this.publish();
    this.log.info('initial lists in', {
      ms: Date.now() - started,
      objects: Object.fromEntries(this.informers.map((i) => [i.resource.name, i.status().objects])),
    });
  }

  stop(): void {
    for (const informer of this.informers) informer.stop();
    this.onUpdate = undefined;
  }

  /** The latest per-object outcome (accepted, rejected with field paths, served generation). */
  reports(): ObjectReport[] {
    return this.assembled?.reports ?? [];
  }

  /** Called after each recomputation, whether or not the model changed (status may have). */
  onReports(listener: () => void): void {
    this.reportListeners.push(listener);
  }

  informerStats(): InformerStats[] {
    return this.informers.map((i) => i.status());
  }

  private schedule(): void {
    if (!this.onUpdate || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.publish();
    });
  }

  private publish(): void {
    if (!this.onUpdate) return;
    const assembled = assembleModel(
      {
        services: this.services.values(),
        slices: this.slices.values(),
        nodes: this.nodes.values(),
        meshServices: this.meshServices.values(),
        httpRoutes: this.httpRoutes.values(),
        accessPolicies: this.accessPolicies.values(),
        referenceGrants: this.referenceGrants.values(),
      },
      this.lastGood,
    );
    this.assembled = assembled;
    this.lastGood = assembled.lastGood;
    // Compare what the translators would see, not the raw objects.
    const text = JSON.stringify([[...assembled.model.services], assembled.model.routes, assembled.model.policies ?? [], assembled.errors]);
    if (text !== this.lastPublished) {
      this.lastPublished = text;
      this.published++;
      const errorsText = JSON.stringify(assembled.errors);
      if (errorsText !== this.lastErrors) for (const error of assembled.errors) this.log.warn('rejected', { ...error });
      this.lastErrors = errorsText;
      this.onUpdate({ model: assembled.model, errors: assembled.errors });
    }
    for (const listener of this.reportListeners) listener();
  }
}
