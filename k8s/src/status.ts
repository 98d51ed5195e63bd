/**
 * What meshcp did with each object, written back to the object's status so
 * `kubectl get meshservices` / `kubectl describe` show it:
 *  - Accepted      the object is valid (else: the field path and what is wrong)
 *  - ResolvedRefs  its references resolve (HTTPRoute parents and backends)
 *  - Programmed    this generation is in the configuration being served
 * plus, on MeshServices, the served endpoint count and how many of the service's
 * own proxies are SYNCED / STALE / NACKED. MeshAccessPolicies get the same three
 * conditions (ResolvedRefs: the target MeshService exists in the policy's namespace).
 *
 * Only the leader writes (see leader.ts). Building a status is pure; the writer
 * patches only when the built status differs from the object's, so steady
 * state costs no writes.
 */
import type { ConfigError } from '@meshcp/translators';
import type { KubeClient } from './client.js';
import type { LeaderElector } from './leader.js';
import { type Logger, logger } from './log.js';
import type { ObjectReport } from './mapping/assemble.js';
import { hasStatus, STATUS_PATHS } from './mapping/custom.js';

export const CONTROLLER_NAME = 'meshcp.io/mesh-controller';

/** Proxies of one service (by the namespace/service their xDS node names), by sync state. */
export interface ProxyCounts {
  synced: number;
  stale: number;
  nacked: number;
}

/** Implemented by the control plane; keyed by `namespace/name`. */
export interface ProxyStatusProvider {
  /** Async: with xDS worker processes the streams are counted where they live. */
  proxyCounts(): Promise<ReadonlyMap<string, ProxyCounts>>;
}

export interface Condition {
  type: 'Accepted' | 'ResolvedRefs' | 'Programmed';
  status: 'True' | 'False';
  reason: string;
  message: string;
  observedGeneration: number;
  lastTransitionTime: string;
}

function describeErrors(errors: readonly ConfigError[]): string {
  const text = errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ');
  // Condition messages are limited to 32768 bytes by the API; keep them readable.
  return text.length > 1000 ? `${text.slice(0, 997)}...` : text;
}

/** Keeps a condition's lastTransitionTime while its status stays the same. */
function withTransitionTime(condition: Omit<Condition, 'lastTransitionTime'>, previous: readonly Condition[], now: string): Condition {
  const before = previous.find((c) => c.type === condition.type);
  return { ...condition, lastTransitionTime: before && before.status === condition.status ? before.lastTransitionTime : now };
}

export function objectConditions(report: ObjectReport, previous: readonly Condition[], now: string): Condition[] {
  const generation = report.object.generation;
  const served = report.servedGeneration;
  const kind = report.object.kind;
  const accepted: Omit<Condition, 'lastTransitionTime'> =
    report.invalid.length === 0
      ? { type: 'Accepted', status: 'True', reason: 'Accepted', message: `${kind} is valid`, observedGeneration: generation }
      : { type: 'Accepted', status: 'False', reason: 'Invalid', message: describeErrors(report.invalid), observedGeneration: generation };
  const resolvedRefs: Omit<Condition, 'lastTransitionTime'> =
    report.unresolved.length === 0
      ? { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'all references resolve', observedGeneration: generation }
      : {
          type: 'ResolvedRefs',
          status: 'False',
          // A policy names the service it guards; a route names its parents and backends.
          reason: kind === 'MeshAccessPolicy' ? 'TargetNotFound' : 'BackendNotFound',
          message: describeErrors(report.unresolved),
          observedGeneration: generation,
        };
  let programmed: Omit<Condition, 'lastTransitionTime'>;
  if (served === generation) {
    const detail = report.endpoints === undefined ? '' : ` with ${report.endpoints} endpoint${report.endpoints === 1 ? '' : 's'}`;
    programmed = {
      type: 'Programmed',
      status: 'True',
      reason: 'Programmed',
      message: `generation ${generation} is served${detail}`,
      observedGeneration: generation,
    };
  } else if (served !== undefined) {
    programmed = {
      type: 'Programmed',
      status: 'False',
      reason: 'ServingLastAccepted',
      message: `generation ${generation} is rejected; generation ${served} keeps serving`,
      observedGeneration: generation,
    };
  } else {
    programmed = {
      type: 'Programmed',
      status: 'False',
      reason: report.invalid.length > 0 ? 'Invalid' : 'RefNotResolved',
      message: 'not in the served configuration',
      observedGeneration: generation,
    };
  }
  return [accepted, resolvedRefs, programmed].map((c) => withTransitionTime(c, previous, now));
}

export interface MeshServiceStatus {
  observedGeneration: number;
  endpoints: number;
  proxies: ProxyCounts;
  conditions: Condition[];
}

function currentConditions(status: unknown): Condition[] {
  const conditions = (status as { conditions?: unknown } | null)?.conditions;
  return Array.isArray(conditions) ? (conditions as Condition[]) : [];
}

export function meshServiceStatus(report: ObjectReport, proxies: ProxyCounts | undefined, now: string): MeshServiceStatus {
  return {
    observedGeneration: report.object.generation,
    endpoints: report.endpoints ?? 0,
    proxies: proxies ?? { synced: 0, stale: 0, nacked: 0 },
    conditions: objectConditions(report, currentConditions(report.object.status), now),
  };
}

export interface AccessPolicyStatus {
  observedGeneration: number;
  conditions: Condition[];
}

export function accessPolicyStatus(report: ObjectReport, now: string): AccessPolicyStatus {
  return { observedGeneration: report.object.generation, conditions: objectConditions(report, currentConditions(report.object.status), now) };
}

interface RouteParentStatus {
  parentRef: Record<string, unknown>;
  controllerName: string;
  conditions: Condition[];
}

/**
 * Gateway API route status: one entry per parentRef, tagged with our
 * controllerName; entries other controllers wrote are kept as they are.
 */
export function httpRouteStatus(report: ObjectReport, now: string): { parents: RouteParentStatus[] } {
  const current = report.object.status as { parents?: RouteParentStatus[] } | null;
  const others = (current?.parents ?? []).filter((p) => p.controllerName !== CONTROLLER_NAME);
  const ours = (current?.parents ?? []).filter((p) => p.controllerName === CONTROLLER_NAME);
  const spec = report.object.doc.spec as { parentRefs?: Record<string, unknown>[] } | null;
  const parentRefs = Array.isArray(spec?.parentRefs) ? spec.parentRefs : [];
  const parents = parentRefs.map((ref) => {
    const parentRef: Record<string, unknown> = { group: ref.group ?? '', kind: ref.kind ?? 'Service', name: ref.name };
    if (ref.namespace !== undefined) parentRef.namespace = ref.namespace;
    if (ref.port !== undefined) parentRef.port = ref.port;
    const previous = ours.find((p) => stableJson(p.parentRef) === stableJson(parentRef))?.conditions ?? [];
    return { parentRef, controllerName: CONTROLLER_NAME, conditions: objectConditions(report, previous, now) };
  });
  return { parents: [...others, ...parents] };
}

/** JSON with sorted keys: the API server need not keep our key order. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export interface StatusWriterOptions {
  client: KubeClient;
  reports: () => readonly ObjectReport[];
  proxies?: ProxyStatusProvider;
  /** Without one, this replica always writes (a single replica). */
  elector?: LeaderElector;
  /** How often proxy counts are looked at again (they change without any object changing). */
  refreshMs?: number;
  /** Recorded in the object's managedFields, so `kubectl get -o yaml` shows which replica wrote. */
  fieldManager?: string;
  log?: Logger;
}

export class StatusWriter {
  private readonly log: Logger;
  private timer?: NodeJS.Timeout;
  private running = false;
  private again = false;
  private stopped = false;
  /** What we last wrote per uid, so a write is not repeated before the informer sees it. */
  private readonly written = new Map<string, string>();
  /** Status patches sent, for tests and logs. */
  writes = 0;

  constructor(private readonly options: StatusWriterOptions) {
    this.log = options.log ?? logger('status');
  }

  start(): void {
    this.options.elector?.onChange((leading) => {
      this.written.clear();
      if (leading) this.kick();
    });
    const refresh = () => {
      this.kick();
      this.timer = setTimeout(refresh, this.options.refreshMs ?? 2000);
      this.timer.unref();
    };
    refresh();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Reconciles now (or right after the reconcile in progress). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.reconcile().finally(() => {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async reconcile(): Promise<void> {
    if (this.options.elector && !this.options.elector.isLeader()) return;
    const counts = (await this.options.proxies?.proxyCounts()) ?? new Map<string, ProxyCounts>();
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const live = new Set<string>();
    for (const report of this.options.reports()) {
      const { object } = report;
      if (!hasStatus(object.kind)) continue;
      live.add(object.uid);
      const status =
        object.kind === 'MeshService'
          ? meshServiceStatus(report, counts.get(`${object.namespace}/${object.name}`), now)
          : object.kind === 'MeshAccessPolicy'
            ? accessPolicyStatus(report, now)
            : httpRouteStatus(report, now);
      const desired = stableJson(status);
      if (desired === stableJson(object.status) || desired === this.written.get(object.uid)) continue;
      if (this.options.elector && !this.options.elector.isLeader()) return;
      const plural = STATUS_PATHS[object.kind];
      const fieldManager = encodeURIComponent((this.options.fieldManager ?? 'meshcp').slice(0, 128));
      const path = `/apis/${plural.replace('NS', object.namespace)}/${object.name}/status?fieldManager=${fieldManager}`;
      try {
        await this.options.client.request('PATCH', path, { status }, 'application/merge-patch+json');
        this.written.set(object.uid, desired);
        this.writes++;
      } catch (error) {
        this.log.warn('status write failed', { object: `${object.kind} ${object.namespace}/${object.name}`, error: (error as Error).message });
      }
    }
    for (const uid of this.written.keys()) if (!live.has(uid)) this.written.delete(uid);
  }
}
