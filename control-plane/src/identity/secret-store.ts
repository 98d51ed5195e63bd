/**
 * The CA's state in a Kubernetes Secret, so every replica signs with the same root.
 * The first replica to start creates it; a replica that loses the create race (409)
 * reads the winner's.
 */
import type { KubeRequester } from '../auth/token-review.js';
import type { CaState, CaStore } from './ca.js';

export class SecretCaStore implements CaStore {
  constructor(
    private readonly kube: KubeRequester,
    private readonly namespace: string,
    private readonly name = 'meshcp-ca',
  ) {}

  private get path(): string {
    return `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/secrets/${encodeURIComponent(this.name)}`;
  }

  async load(): Promise<CaState | undefined> {
    try {
      const secret = await this.kube.request<{ data?: Record<string, string> }>('GET', this.path);
      const encoded = secret.data?.['ca.json'];
      if (!encoded) throw new Error(`Secret ${this.namespace}/${this.name} has no ca.json`);
      try {
        return JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as CaState;
      } catch {
        // JSON.parse quotes the text around the error: it would put key material in the log.
        throw new Error(`Secret ${this.namespace}/${this.name}: ca.json is not valid JSON`);
      }
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** First start: store `state` unless another replica already did; returns what is stored. */
  async create(state: CaState): Promise<CaState> {
    try {
      await this.kube.request('POST', `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/secrets`, this.secret(state));
      return state;
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
      const winner = await this.load();
      if (!winner) throw error;
      return winner;
    }
  }

  private secret(state: CaState): object {
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: this.name, namespace: this.namespace, labels: { 'app.kubernetes.io/managed-by': 'meshcp' } },
      type: 'Opaque',
      data: { 'ca.json': Buffer.from(JSON.stringify(state)).toString('base64') },
    };
  }

  async save(state: CaState): Promise<void> {
    const body = this.secret(state);
    try {
      await this.kube.request('PUT', this.path, body);
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
      await this.kube.request('POST', `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/secrets`, body);
    }
  }
}

function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}
