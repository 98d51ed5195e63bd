/**
 * A small JSON client for the Kubernetes API on top of @kubernetes/client-node's
 * KubeConfig (kubeconfig files, in-cluster service-account config, client certs,
 * tokens, exec plugins) and its Watch. We talk to resources by path rather than
 * through the generated typed clients: the informers only need list, watch, get,
 * create, update and merge-patch, and they need the raw HTTP status (410 Gone,
 * 404 for a CRD that is not installed, 409 for a lost Lease race).
 */
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { KubeConfig, Watch } from '@kubernetes/client-node';

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly reason?: string,
  ) {
    super(message);
  }
}

/** One line of a watch stream. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Record<string, unknown>;
}

export interface WatchHandle {
  abort(): void;
}

export interface ListPage {
  items: Record<string, unknown>[];
  resourceVersion: string;
  continueToken?: string;
}

export class KubeClient {
  private readonly watcher: Watch;

  constructor(
    readonly config: KubeConfig,
    /** Per request (not per watch) timeout. */
    private readonly requestTimeoutMs = 15_000,
  ) {
    this.watcher = new Watch(config);
  }

  static fromKubeconfig(path: string): KubeClient {
    const config = new KubeConfig();
    config.loadFromFile(path);
    return new KubeClient(config);
  }

  /** The pod's service account (KUBERNETES_SERVICE_HOST/PORT and the mounted token and CA). */
  static inCluster(): KubeClient {
    const config = new KubeConfig();
    config.loadFromCluster();
    return new KubeClient(config);
  }

  get server(): string {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    return cluster.server;
  }

  /** Sends one request; resolves with the decoded JSON body, rejects with ApiError on a non-2xx status. */
  async request<T = Record<string, unknown>>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const url = new URL(this.server + path);
    const options: RequestOptions & { headers: Record<string, string> } = {
      method,
      headers: { accept: 'application/json' },
      timeout: this.requestTimeoutMs,
    };
    await this.config.applyToHTTPSOptions(options);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload) {
      options.headers['content-type'] = contentType;
      options.headers['content-length'] = String(payload.length);
    }
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise<T>((resolve, reject) => {
      const req = send(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let decoded: unknown;
          try {
            decoded = text === '' ? {} : JSON.parse(text);
          } catch {
            decoded = { message: text };
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(decoded as T);
          const d = decoded as { message?: string; reason?: string };
          reject(new ApiError(status, `${method} ${path}: HTTP ${status}: ${d.message ?? text}`, d.reason));
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${this.requestTimeoutMs} ms`)));
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  async list(path: string, limit = 500, continueToken?: string): Promise<ListPage> {
    const query = new URLSearchParams({ limit: String(limit) });
    if (continueToken) query.set('continue', continueToken);
    const body = await this.request<{ items?: Record<string, unknown>[]; metadata?: { resourceVersion?: string; continue?: string } }>(
      'GET',
      `${path}?${query}`,
    );
    const page: ListPage = { items: body.items ?? [], resourceVersion: body.metadata?.resourceVersion ?? '' };
    if (body.metadata?.continue) page.continueToken = body.metadata.continue;
    return page;
  }

  /**
   * Opens a watch from `resourceVersion` with bookmarks. `onDone` is called once,
   * when the stream ends for any reason (server timeout, error, abort).
   */
  async watch(
    path: string,
    resourceVersion: string,
    timeoutSeconds: number,
    onEvent: (event: WatchEvent) => void,
    onDone: (error: unknown) => void,
  ): Promise<WatchHandle> {
    const controller = await this.watcher.watch(
      path,
      { resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
      (type: string, object: Record<string, unknown>) => onEvent({ type: type as WatchEvent['type'], object }),
      onDone,
    );
    return { abort: () => controller.abort() };
  }
}
