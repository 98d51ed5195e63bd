/**
 * Leader election on a coordination.k8s.io/v1 Lease, the way client-go's
 * leaderelection does it: every replica tries to acquire or renew every
 * `retryPeriodMs`; a Lease held by someone else counts as expired only after
 * `leaseDurationMs` without a change to its record *as observed by our clock*
 * (so clock skew between replicas does not matter); writes use the Lease's
 * resourceVersion, so two replicas racing for an expired Lease cannot both win
 * (the loser gets 409 Conflict). A leader that cannot renew for
 * `renewDeadlineMs` steps down before anyone else may take over.
 * Only the status writer depends on leadership; every replica serves xDS.
 */
import { hostname } from 'node:os';
import { ApiError, type KubeClient } from './client.js';
import { type Logger, logger } from './log.js';

export interface LeaseOptions {
  namespace: string;
  name?: string;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log?: Logger;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** Kubernetes MicroTime: RFC 3339 with microseconds. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function defaultIdentity(): string {
  return process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
}

export class LeaderElector {
  readonly identity: string;
  readonly name: string;
  private leading = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private lastRenew = 0;
  private observedRecord = '';
  private observedAt = 0;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly log: Logger;
  private readonly listeners: ((leading: boolean) => void)[] = [];
  /** Times this replica became leader. */
  acquisitions = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly options: LeaseOptions,
  ) {
    this.identity = options.identity ?? defaultIdentity();
    this.name = options.name ?? 'meshcp-leader';
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    this.log = options.log ?? logger('leader');
    if (!(this.retryPeriodMs < this.renewDeadlineMs && this.renewDeadlineMs < this.leaseDurationMs)) {
      throw new Error('lease timings must satisfy retryPeriod < renewDeadline < leaseDuration');
    }
  }

  isLeader(): boolean {
    return this.leading;
  }

  onChange(listener: (leading: boolean) => void): void {
    this.listeners.push(listener);
  }

  start(): void {
    void this.tick();
  }

  /** Stops campaigning; a leader releases the Lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    this.setLeading(false);
    try {
      const lease = await this.get();
      if (lease?.spec?.holderIdentity === this.identity) {
        const now = microTime(new Date());
        await this.put({ ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now } });
      }
    } catch (error) {
      this.log.warn('could not release the lease', { error: (error as Error).message });
    }
  }

  private path(name?: string): string {
    const base = `/apis/coordination.k8s.io/v1/namespaces/${this.options.namespace}/leases`;
    return name ? `${base}/${name}` : base;
  }

  private async get(): Promise<Lease | undefined> {
    try {
      return await this.client.request<Lease>('GET', this.path(this.name));
    } catch (error) {
      if (error instanceof ApiError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  private put(lease: Lease): Promise<Lease> {
    return this.client.request<Lease>('PUT', this.path(this.name), { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...lease });
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let renewed = false;
    try {
      renewed = await this.tryAcquireOrRenew();
    } catch (error) {
      this.log.debug('lease attempt failed', { error: (error as Error).message });
    }
    if (this.stopped) return;
    if (renewed) {
      this.lastRenew = Date.now();
      if (!this.leading) {
        this.acquisitions++;
        this.log.info('became leader', { lease: `${this.options.namespace}/${this.name}`, identity: this.identity });
        this.setLeading(true);
      }
    } else if (this.leading && Date.now() - this.lastRenew > this.renewDeadlineMs) {
      this.log.warn('could not renew the lease in time; stepping down', { lease: `${this.options.namespace}/${this.name}` });
      this.setLeading(false);
    }
    this.timer = setTimeout(() => void this.tick(), this.retryPeriodMs);
    this.timer.unref();
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    for (const listener of this.listeners) listener(leading);
  }

  /** One round: true when this replica holds the Lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const leaseDurationSeconds = Math.max(1, Math.ceil(this.leaseDurationMs / 1000));
    const existing = await this.get();
    if (!existing) {
      const spec: LeaseSpec = {
        holderIdentity: this.identity,
        leaseDurationSeconds,
        acquireTime: microTime(now),
        renewTime: microTime(now),
        leaseTransitions: 0,
      };
      try {
        await this.client.request('POST', this.path(), {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.name, namespace: this.options.namespace },
          spec,
        });
        return true;
      } catch (error) {
        if (error instanceof ApiError && error.statusCode === 409) return false; // another replica created it first
        throw error;
      }
    }
    const spec = existing.spec ?? {};
    const record = JSON.stringify(spec);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = Date.now();
    }
    const holder = spec.holderIdentity ?? '';
    const heldByOther = holder !== '' && holder !== this.identity;
    const observedDurationMs = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    if (heldByOther && this.observedAt + observedDurationMs > Date.now()) return false;
    const next: LeaseSpec = {
      holderIdentity: this.identity,
      leaseDurationSeconds,
      acquireTime: holder === this.identity && spec.acquireTime ? spec.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === this.identity ? 0 : 1),
    };
    try {
      const updated = await this.put({ metadata: existing.metadata, spec: next });
      this.observedRecord = JSON.stringify(updated.spec ?? {});
      this.observedAt = Date.now();
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.statusCode === 409) return false; // lost the race
      throw error;
    }
  }
}
