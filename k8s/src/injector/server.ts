/**
 * The injection webhook server: HTTPS with a serving certificate from the
 * injector CA, POST /inject answers AdmissionReview v1 with injectPod's patch.
 *
 * The CA is shared by all replicas through a Secret (the first replica creates
 * it; the others read it), so the API server trusts whichever replica it
 * reaches. Each replica keeps the webhook configuration's caBundle equal to
 * that CA: at start and every `resyncMs` (a `helm upgrade` re-applies the
 * configuration with an empty caBundle; the next resync restores it — until
 * then, failurePolicy decides: see the chart's values).
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ApiError, type KubeClient } from '../client.js';
import { CertificateAuthority } from './ca.js';
import { type InjectorConfig, injectPod } from './inject.js';

export interface InjectorServerOptions {
  client: KubeClient;
  namespace: string;
  /** Secret holding the CA (tls.key / ca.crt), in `namespace`. */
  caSecret: string;
  /** MutatingWebhookConfiguration whose caBundle this server keeps current. */
  webhookConfiguration: string;
  /** Names the serving certificate is for (the webhook Service's DNS names). */
  dnsNames: string[];
  port: number;
  host?: string;
  config: InjectorConfig;
  resyncMs?: number;
  log?: (message: string) => void;
}

const MAX_BODY = 4 * 1024 * 1024;

async function loadOrCreateCa(client: KubeClient, namespace: string, name: string): Promise<CertificateAuthority> {
  const path = `/api/v1/namespaces/${namespace}/secrets/${name}`;
  const read = async (): Promise<CertificateAuthority> => {
    const secret = await client.request<{ data?: Record<string, string> }>('GET', path);
    const key = Buffer.from(secret.data?.['tls.key'] ?? '', 'base64').toString();
    const cert = Buffer.from(secret.data?.['ca.crt'] ?? '', 'base64').toString();
    return CertificateAuthority.load(key, cert);
  };
  try {
    return await read();
  } catch (error) {
    if (!(error instanceof ApiError && error.statusCode === 404)) throw error;
  }
  const ca = CertificateAuthority.create('meshcp-injector-ca');
  try {
    await client.request('POST', `/api/v1/namespaces/${namespace}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace },
      type: 'Opaque',
      data: { 'tls.key': Buffer.from(ca.keyPem).toString('base64'), 'ca.crt': Buffer.from(ca.certPem).toString('base64') },
    });
    return ca;
  } catch (error) {
    // Another replica created it first: use that one.
    if (error instanceof ApiError && error.statusCode === 409) return read();
    throw error;
  }
}

export class InjectorServer {
  private server?: Server;
  private timer?: NodeJS.Timeout;
  private ca?: CertificateAuthority;
  /** Admission requests answered, by outcome. */
  readonly counts = { injected: 0, skipped: 0, denied: 0, errors: 0 };

  constructor(private readonly options: InjectorServerOptions) {}

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    const { client, namespace, caSecret } = this.options;
    this.ca = await loadOrCreateCa(client, namespace, caSecret);
    const serving = this.ca.issueServing(this.options.dnsNames);
    this.server = createServer({ key: serving.keyPem, cert: serving.certPem }, (req, res) => {
      if (req.method === 'GET' && req.url === '/healthz') {
        res.end('ok');
        return;
      }
      if (req.method !== 'POST' || !req.url?.startsWith('/inject')) {
        res.statusCode = 404;
        res.end();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY) req.destroy();
        else chunks.push(chunk);
      });
      req.on('end', () => {
        const response = this.review(Buffer.concat(chunks).toString('utf8'));
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(response));
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(this.options.port, this.options.host ?? '0.0.0.0', resolve);
    });
    await this.patchCaBundle().catch((error: unknown) => this.options.log?.(`caBundle patch failed (retried): ${String(error)}`));
    this.timer = setInterval(() => {
      this.patchCaBundle().catch((error: unknown) => this.options.log?.(`caBundle patch failed (retried): ${String(error)}`));
    }, this.options.resyncMs ?? 30_000);
    this.timer.unref();
  }

  /** Sets caBundle on every webhook of the configuration that lacks this CA. */
  async patchCaBundle(): Promise<void> {
    if (!this.ca) return;
    const path = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${this.options.webhookConfiguration}`;
    const current = await this.options.client.request<{ webhooks?: { name: string; clientConfig?: { caBundle?: string } }[] }>('GET', path);
    const bundle = Buffer.from(this.ca.certPem).toString('base64');
    const stale = (current.webhooks ?? []).map((w, i) => ({ w, i })).filter(({ w }) => w.clientConfig?.caBundle !== bundle);
    if (stale.length === 0) return;
    const patch = stale.map(({ i }) => ({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: bundle }));
    await this.options.client.request('PATCH', path, patch, 'application/json-patch+json');
    this.options.log?.(`caBundle set on ${stale.map(({ w }) => w.name).join(', ')}`);
  }

  /** One AdmissionReview in, its response out. Never throws: a bad review is answered, not crashed on. */
  review(body: string): Record<string, unknown> {
    let uid = '';
    try {
      const review = JSON.parse(body) as { request?: { uid?: string; namespace?: string; object?: Record<string, unknown> } };
      uid = review.request?.uid ?? '';
      const pod = review.request?.object;
      if (!uid || !pod) throw new Error('not an AdmissionReview with a request and an object');
      const namespace = review.request?.namespace ?? String((pod.metadata as { namespace?: string } | undefined)?.namespace ?? 'default');
      const result = injectPod(pod, namespace, this.options.config);
      if ('denied' in result) {
        this.counts.denied++;
        return admission(uid, { allowed: false, status: { code: 400, message: result.denied } });
      }
      if ('skipped' in result) {
        this.counts.skipped++;
        return admission(uid, { allowed: true });
      }
      this.counts.injected++;
      return admission(uid, { allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(result.patch)).toString('base64') });
    } catch (error) {
      this.counts.errors++;
      return admission(uid, { allowed: false, status: { code: 400, message: `meshcp injector: ${(error as Error).message}` } });
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

function admission(uid: string, response: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, ...response } };
}
