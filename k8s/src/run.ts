/**
 * What `meshcp serve --kubeconfig` adds around the control plane: the client
 * (kubeconfig file, or the pod's service account), the source, and the status
 * writer behind leader election. The control plane passes itself in as the
 * ProxyStatusProvider; k8s never imports control-plane.
 */
import { KubeClient } from './client.js';
import { KubernetesSource, type KubernetesSourceOptions } from './kubernetes-source.js';
import { LeaderElector, type LeaseOptions } from './leader.js';
import { type ProxyStatusProvider, StatusWriter } from './status.js';

/** A kubeconfig path wins; without one, in-cluster config when running in a pod. */
export function kubeClientFor(kubeconfig: string | undefined): KubeClient {
  if (kubeconfig) return KubeClient.fromKubeconfig(kubeconfig);
  if (process.env.KUBERNETES_SERVICE_HOST) return KubeClient.inCluster();
  throw new Error('no --kubeconfig given and not running in a pod (KUBERNETES_SERVICE_HOST is not set)');
}

export interface MeshcpOnKubernetesOptions {
  source?: KubernetesSourceOptions;
  /** Lease namespace: --lease-namespace, else $POD_NAMESPACE, else "default"; name: $MESHCP_LEASE_NAME, else meshcp-leader. */
  lease?: Partial<LeaseOptions>;
  statusRefreshMs?: number;
}

export class MeshcpOnKubernetes {
  readonly source: KubernetesSource;
  readonly elector: LeaderElector;
  private writer?: StatusWriter;

  constructor(
    readonly client: KubeClient,
    private readonly options: MeshcpOnKubernetesOptions = {},
  ) {
    this.source = new KubernetesSource(client, options.source);
    const leaseName = process.env.MESHCP_LEASE_NAME;
    this.elector = new LeaderElector(client, {
      namespace: process.env.POD_NAMESPACE ?? 'default',
      ...(leaseName ? { name: leaseName } : {}),
      ...options.lease,
    });
  }

  /** Call once the control plane has started (the source has synced). */
  startStatus(proxies: ProxyStatusProvider): void {
    const writer = new StatusWriter({
      client: this.client,
      reports: () => this.source.reports(),
      proxies,
      elector: this.elector,
      fieldManager: `meshcp/${this.elector.identity}`,
      ...(this.options.statusRefreshMs ? { refreshMs: this.options.statusRefreshMs } : {}),
    });
    this.writer = writer;
    this.source.onReports(() => writer.kick());
    writer.start();
    this.elector.start();
  }

  get statusWrites(): number {
    return this.writer?.writes ?? 0;
  }

  async stop(): Promise<void> {
    this.writer?.stop();
    await this.elector.stop();
  }
}
