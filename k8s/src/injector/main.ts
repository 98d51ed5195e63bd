/**
 * The sidecar injector as its own process: the chart runs it as a second
 * container of the meshcp pod, from the same image
 * (`node /app/node_modules/@meshcp/k8s/dist/injector/main.js`), with the pod's
 * service account. Configuration comes from the environment the chart sets:
 *
 *   POD_NAMESPACE                   the release namespace
 *   MESHCP_INJECTOR_SERVICE         the webhook Service (serving cert names)
 *   MESHCP_INJECTOR_WEBHOOK         the MutatingWebhookConfiguration to keep caBundle on
 *   MESHCP_INJECTOR_CA_SECRET       the Secret holding the shared CA
 *   MESHCP_INJECTOR_PORT            HTTPS port (default 9443)
 *   MESHCP_XDS_SERVICE, MESHCP_XDS_PORT   meshcp's xDS Service: sidecars get its
 *                                   ClusterIP (pods here may have no cluster DNS)
 *   MESHCP_ENVOY_IMAGE, MESHCP_ENVOY_VERSION, MESHCP_INIT_IMAGE, MESHCP_IMAGE_PULL_POLICY
 */
import { KubeClient } from '../client.js';
import { DEFAULT_INJECTOR_CONFIG, type InjectorConfig } from './inject.js';
import { InjectorServer } from './server.js';

function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
}

async function main(): Promise<void> {
  const log = (message: string): void => {
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), component: 'injector', message })}\n`);
  };
  const client = KubeClient.inCluster();
  const namespace = env('POD_NAMESPACE');
  const service = env('MESHCP_INJECTOR_SERVICE');
  const xdsService = env('MESHCP_XDS_SERVICE');
  const xdsPort = env('MESHCP_XDS_PORT', '18000');
  const svc = await client.request<{ spec?: { clusterIP?: string } }>('GET', `/api/v1/namespaces/${namespace}/services/${xdsService}`);
  const clusterIp = svc.spec?.clusterIP;
  if (!clusterIp || clusterIp === 'None') throw new Error(`service ${namespace}/${xdsService} has no cluster IP`);
  // meshcp serves xDS with TLS from the mesh CA: sidecars get its trust bundle and a projected token.
  // The meshcp container beside this one creates that Secret on its first start: wait for it.
  const caPath = `/api/v1/namespaces/${namespace}/secrets/${env('MESHCP_CA_SECRET', 'meshcp-ca')}`;
  let caState: { roots?: string[] } = {};
  for (let attempt = 0; !caState.roots?.length; attempt++) {
    try {
      const secret = await client.request<{ data?: Record<string, string> }>('GET', caPath);
      caState = JSON.parse(Buffer.from(secret.data?.['ca.json'] ?? '', 'base64').toString('utf8') || '{}') as { roots?: string[] };
    } catch (error) {
      if (attempt >= 60) throw new Error(`the mesh CA Secret ${caPath} is not there after 60 s: ${String(error)}`);
    }
    if (!caState.roots?.length) await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const config: InjectorConfig = {
    ...DEFAULT_INJECTOR_CONFIG,
    xdsAddress: `${clusterIp}:${xdsPort}`,
    xdsSecurity: {
      caPem: (caState.roots ?? []).join('\n'),
      serverName: `${xdsService}.${namespace}.svc`,
      tokenAudience: env('MESHCP_TOKEN_AUDIENCE', 'meshcp'),
    },
    envoyImage: env('MESHCP_ENVOY_IMAGE', DEFAULT_INJECTOR_CONFIG.envoyImage),
    defaultEnvoyVersion: env('MESHCP_ENVOY_VERSION', DEFAULT_INJECTOR_CONFIG.defaultEnvoyVersion),
    initImage: env('MESHCP_INIT_IMAGE', DEFAULT_INJECTOR_CONFIG.initImage),
    imagePullPolicy: env('MESHCP_IMAGE_PULL_POLICY', DEFAULT_INJECTOR_CONFIG.imagePullPolicy),
  };
  const server = new InjectorServer({
    client,
    namespace,
    caSecret: env('MESHCP_INJECTOR_CA_SECRET'),
    webhookConfiguration: env('MESHCP_INJECTOR_WEBHOOK'),
    dnsNames: [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`],
    port: Number(env('MESHCP_INJECTOR_PORT', '9443')),
    config,
    log,
  });
  await server.start();
  log(`serving on :${server.port}; sidecars get xDS at ${config.xdsAddress}`);
  const stop = (): void => {
    void server.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`meshcp injector: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
