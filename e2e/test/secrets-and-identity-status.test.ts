/**
 * Issue 13's "nothing secret in any log, metric or debug output", and its §8
 * (identity, certificate expiry and trust bundle per proxy; certificate metrics).
 *
 * A secured `meshcp serve` on a private kube-apiserver (its CA in a Secret, streams
 * authenticated with ServiceAccount tokens through TokenReview) serves two real Envoy
 * sidecars talking STRICT mTLS while their 16 s SVIDs rotate and then the root
 * rotates (`meshcp identity rotate-root --kubeconfig`, a 20 s overlap). Every secret
 * of the run is collected: both root keys (from the Secret), every workload key meshcp
 * issued (read over SDS by a client authenticated as each workload, the way the
 * sidecars get them) and every token meshcp reviewed. Then every admin and debug
 * endpoint, /metrics, CSDS, `meshcp status` and the server's whole stdout/stderr are
 * searched for each of them in every form (e2e/src/secrets.ts).
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { TestApiServer } from '@meshcp/k8s';
import { envoyBootstrap } from '@meshcp/translators';
import { decodeDiscoveryResponse, decodeToJson, encodeDiscoveryRequest, encodeJson, loadEnvoyApi, SECRET } from '@meshcp/xds-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Cleanup,
  type EnvoyProcess,
  freePort,
  MESHCP_BIN,
  mtlsServiceYaml,
  REPO_ROOT,
  type RunningProcess,
  startApp,
  startEnvoy,
  startProcess,
  tempDir,
  waitFor,
} from '../src/harness.js';
import { ANY_PRIVATE_KEY, findSecrets, keyNeedles, type Needle, tokenNeedles } from '../src/secrets.js';

const CRD = join(REPO_ROOT, 'k8s', 'crds', 'meshservices.meshcp.io.yaml');
const SVID_TTL_SECONDS = 16;
const ROOT_OVERLAP_SECONDS = 20;
const PEM_KEY = /-----BEGIN PRIVATE KEY-----[\s\S]*?-----END PRIVATE KEY-----/g;
const raw = (b: Buffer) => b;

/**
 * Reads a workload's SDS secrets the way its sidecar does (TLS, its token, an ADS
 * stream), ACKing every push, and keeps every private key it is sent.
 */
class SdsReader {
  readonly keys = new Set<string>();
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;

  constructor(xdsPort: number, caFile: string, token: string, serviceAccount: string) {
    this.client = new grpc.Client(`127.0.0.1:${xdsPort}`, grpc.credentials.createSsl(readFileSync(caFile)));
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    this.call = this.client.makeBidiStreamRequest('/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', raw, raw, metadata);
    const { node } = envoyBootstrap({
      nodeId: `sds-reader-${serviceAccount}`,
      service: serviceAccount,
      namespace: 'shop',
      serviceAccount,
      xdsAddress: `127.0.0.1:${xdsPort}`,
    }) as {
      node: object;
    };
    const request = (ack?: { version_info?: string; nonce?: string }) =>
      encodeDiscoveryRequest({
        node,
        type_url: SECRET,
        resource_names: ['default', 'ROOTCA'],
        ...(ack ? { version_info: ack.version_info ?? '', response_nonce: ack.nonce ?? '' } : {}),
      });
    this.call.on('data', (bytes: Buffer) => {
      const response = decodeDiscoveryResponse(bytes);
      for (const key of JSON.stringify(response.resources ?? [])
        .replaceAll('\\n', '\n')
        .match(PEM_KEY) ?? [])
        this.keys.add(key);
      this.call.write(request(response));
    });
    this.call.on('error', () => undefined);
    this.call.write(request());
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

/** CSDS FetchClientStatus as a reader authenticated with a token (the server names it in --csds-reader). */
async function csdsDump(xdsPort: number, caFile: string, token: string): Promise<string> {
  const api = loadEnvoyApi();
  const client = new grpc.Client(`127.0.0.1:${xdsPort}`, grpc.credentials.createSsl(readFileSync(caFile)));
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  try {
    const bytes = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(
        '/envoy.service.status.v3.ClientStatusDiscoveryService/FetchClientStatus',
        raw,
        raw,
        Buffer.from(encodeJson(api, 'envoy.service.status.v3.ClientStatusRequest', {})),
        metadata,
        (error, value) => (error || !value ? reject(error ?? new Error('no response')) : resolve(value)),
      ),
    );
    return JSON.stringify(decodeToJson(api, 'envoy.service.status.v3.ClientStatusResponse', bytes));
  } finally {
    client.close();
  }
}

describe('identity status and secrets (tokens, mTLS, rotating SVIDs, real Envoy)', () => {
  const cleanup = new Cleanup();
  let api: TestApiServer;
  let serve: RunningProcess;
  let xdsPort: number;
  let adminPort: number;
  let caFile: string;
  let web: EnvoyProcess;
  const tokens = new Map<string, string>();
  const readers: SdsReader[] = [];

  const admin = async (path: string) => (await fetch(`http://127.0.0.1:${adminPort}${path}`)).text();
  const token = async (serviceAccount: string) => {
    const minted = (await api.kubectlOk(['-n', 'shop', 'create', 'token', serviceAccount, '--audience', 'meshcp', '--duration', '10m'])).trim();
    tokens.set(`token ${serviceAccount} #${tokens.size + 1}`, minted);
    return minted;
  };
  const metric = async (pattern: RegExp) => Number(pattern.exec(await admin('/metrics'))?.[1] ?? Number.NaN);
  const caSecret = async () =>
    JSON.parse(
      Buffer.from(await api.kubectlOk(['-n', 'meshcp-system', 'get', 'secret', 'meshcp-ca', '-o', 'jsonpath={.data.ca\\.json}']), 'base64').toString(),
    ) as { roots: string[]; signer: { privateKeyPem: string } };

  beforeAll(async () => {
    api = await TestApiServer.start();
    cleanup.add(() => api.destroy());
    await api.kubectlOk(['apply', '-f', CRD]);
    await api.kubectlOk(['wait', '--for=condition=Established', 'crd/meshservices.meshcp.io', '--timeout=30s']);
    for (const ns of ['shop', 'meshcp-system']) await api.kubectlOk(['create', 'namespace', ns]);
    for (const sa of ['web', 'payments']) await api.kubectlOk(['-n', 'shop', 'create', 'serviceaccount', sa]);
    const app = await startApp('payments-app', cleanup);
    const inboundPort = await freePort();
    await api.kubectlOk(['apply', '-f', '-'], mtlsServiceYaml('payments', 'payments', 'STRICT', inboundPort));
    xdsPort = await freePort();
    adminPort = await freePort();
    serve = startProcess(
      process.execPath,
      [
        MESHCP_BIN,
        'serve',
        '--kubeconfig',
        api.kubeconfig,
        '--lease-namespace',
        'meshcp-system',
        '--xds-address',
        `127.0.0.1:${xdsPort}`,
        '--admin-address',
        `127.0.0.1:${adminPort}`,
        '--svid-ttl-seconds',
        String(SVID_TTL_SECONDS),
        '--csds-reader',
        'spiffe://cluster.local/ns/shop/sa/web',
        '--ca-reload-seconds',
        '1',
      ],
      cleanup,
    );
    await waitFor(`meshcp /readyz (output: ${serve.output().slice(-500)})`, async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`)).ok, 30_000);
    const state = JSON.parse(
      Buffer.from(await api.kubectlOk(['-n', 'meshcp-system', 'get', 'secret', 'meshcp-ca', '-o', 'jsonpath={.data.ca\\.json}']), 'base64').toString(),
    ) as { roots: string[] };
    caFile = join(tempDir('bundle', cleanup), 'ca.pem');
    writeFileSync(caFile, state.roots.join('\n'));

    await startEnvoy(
      {
        xdsPort,
        nodeId: 'payments-sidecar',
        service: 'payments',
        namespace: 'shop',
        serviceAccount: 'payments',
        inboundPort,
        appPort: app.port,
        security: { caFile, token: await token('payments') },
      },
      cleanup,
    );
    web = await startEnvoy({ xdsPort, nodeId: 'web', namespace: 'shop', serviceAccount: 'web', security: { caFile, token: await token('web') } }, cleanup);
    for (const sa of ['web', 'payments']) readers.push(new SdsReader(xdsPort, caFile, await token(sa), sa));
    cleanup.add(() => {
      for (const reader of readers) reader.close();
    });
    await waitFor('web → payments over mTLS', async () => (await web.request('payments.shop')).body.trim() === 'payments-app', 30_000);
  });
  afterAll(() => cleanup.run());

  it('/debug/proxies, `meshcp status` and the metrics show each proxy’s identity, certificate expiry and trust bundle', async () => {
    const issuedBefore = await metric(/^meshcp_certificates_issued_total\{trust_domain="cluster\.local"\} (\S+)$/m);
    expect(issuedBefore).toBeGreaterThanOrEqual(2);
    const { proxies } = JSON.parse(await admin('/debug/proxies')) as {
      proxies: { nodeId: string; identity: string; certificate: { notAfter: string; trustBundle: string; signer: string } | null }[];
    };
    const { certificates } = JSON.parse(await admin('/debug/certificates')) as { certificates: { spiffeId: string; trustBundle: string }[] };
    const now = Date.now();
    for (const [nodeId, sa] of [
      ['web', 'web'],
      ['payments-sidecar', 'payments'],
    ]) {
      const proxy = proxies.find((p) => p.nodeId === nodeId);
      expect(proxy?.identity).toBe(`spiffe://cluster.local/ns/shop/sa/${sa}`);
      const expiry = Date.parse(proxy?.certificate?.notAfter ?? '');
      expect(expiry).toBeGreaterThan(now);
      expect(expiry).toBeLessThanOrEqual(now + SVID_TTL_SECONDS * 1000);
      expect(proxy?.certificate?.trustBundle).toBe(certificates.find((c) => c.spiffeId === proxy?.identity)?.trustBundle);
    }
    const table = (await promisify(execFile)(process.execPath, [MESHCP_BIN, 'status', '--admin-address', `127.0.0.1:${adminPort}`], { encoding: 'utf8' }))
      .stdout;
    const webRow = table.split('\n').find((line) => line.startsWith('web '));
    const webProxy = proxies.find((p) => p.nodeId === 'web');
    expect(webRow).toContain('spiffe://cluster.local/ns/shop/sa/web');
    expect(webRow).toContain(webProxy?.certificate?.notAfter);
    expect(webRow).toContain(webProxy?.certificate?.trustBundle);
    expect(webRow).toMatch(/\bSYNCED\b.*\bspiffe:/);
    // The soonest expiry is within one SVID lifetime; one root while nothing rotates.
    const earliest = (await metric(/^meshcp_certificate_expiry_earliest_timestamp_seconds (\S+)$/m)) * 1000;
    expect(earliest).toBeGreaterThan(now - 1000);
    expect(earliest).toBeLessThanOrEqual(now + SVID_TTL_SECONDS * 1000);
    expect(await metric(/^meshcp_certificates_served (\S+)$/m)).toBe(2);
    // meshcp's own serving certificate: issued at start, for the same lifetime, renewed at half of it.
    const serving = (await metric(/^meshcp_serving_certificate_expiry_timestamp_seconds (\S+)$/m)) * 1000;
    expect(serving).toBeGreaterThan(now);
    expect(serving).toBeLessThanOrEqual(now + SVID_TTL_SECONDS * 1000);
    expect(await metric(/^meshcp_trust_bundle_roots (\S+)$/m)).toBe(1);
    // Renewal at half life counts up (two identities, each at least once more within a lifetime).
    await waitFor(
      'renewals to be counted',
      async () => (await metric(/^meshcp_certificates_issued_total\{trust_domain="cluster\.local"\} (\S+)$/m)) >= issuedBefore + 2,
      SVID_TTL_SECONDS * 1000,
    );
  });

  it('no private key or token it issued or saw appears in any log, metric, admin, debug or CSDS output', async () => {
    const failures: string[] = [];
    const request = async () => {
      const r = await web.request('payments.shop').catch((e: Error) => ({ status: 0, body: e.message }));
      if (r.status !== 200) failures.push(`${r.status} ${r.body.slice(0, 80)}`);
    };
    // Traffic across two renewals of both certificates, so the run holds several generations of keys.
    const started = Date.now();
    const threeGenerations = () => readers.every((reader) => reader.keys.size >= 3);
    while ((Date.now() - started < SVID_TTL_SECONDS * 1000 + 2_000 || !threeGenerations()) && Date.now() - started < 4 * SVID_TTL_SECONDS * 1000)
      await request();

    // Then the root rotates, from the CLI against the Secret; traffic goes on through the overlap and past it.
    const oldRoot = await caSecret();
    await promisify(execFile)(process.execPath, [
      MESHCP_BIN,
      'identity',
      'rotate-root',
      '--kubeconfig',
      api.kubeconfig,
      '--namespace',
      'meshcp-system',
      '--overlap-seconds',
      String(ROOT_OVERLAP_SECONDS),
    ]);
    const rotatedAt = Date.now();
    let sawTwoRoots = false;
    while (Date.now() - rotatedAt < ROOT_OVERLAP_SECONDS * 1000 + 4_000) {
      await request();
      if ((await metric(/^meshcp_trust_bundle_roots (\S+)$/m)) === 2) sawTwoRoots = true;
    }
    expect(sawTwoRoots).toBe(true);
    expect(await metric(/^meshcp_trust_bundle_roots (\S+)$/m)).toBe(1);
    const newRoot = await caSecret();
    expect(newRoot.signer.privateKeyPem).not.toBe(oldRoot.signer.privateKeyPem);
    expect(failures).toEqual([]);

    const needles: Needle[] = [...ANY_PRIVATE_KEY];
    needles.push(...keyNeedles(oldRoot.signer.privateKeyPem, 'first root key'), ...keyNeedles(newRoot.signer.privateKeyPem, 'second root key'));
    let workloadKeys = 0;
    for (const reader of readers)
      for (const key of reader.keys) {
        workloadKeys++;
        needles.push(...keyNeedles(key, `workload key #${workloadKeys}`));
      }
    // Both identities, each at least three generations (first + two renewals) and one from the new root.
    expect(workloadKeys).toBeGreaterThanOrEqual(8);
    for (const [what, minted] of tokens) needles.push(...tokenNeedles(minted, what));

    const { proxies } = JSON.parse(await admin('/debug/proxies')) as { proxies: { nodeId: string }[] };
    const outputs: Record<string, string> = {};
    for (const path of ['/healthz', '/readyz', '/metrics', '/debug/proxies', '/debug/errors', '/debug/certificates', '/debug/nothing-here'])
      outputs[path] = await admin(path);
    for (const { nodeId } of proxies) outputs[`/debug/config_dump?proxy=${nodeId}`] = await admin(`/debug/config_dump?proxy=${encodeURIComponent(nodeId)}`);
    // A new connection trusts the bundle as it is now (meshcp serves from the new root), as an injector mounts it.
    const currentBundle = join(tempDir('bundle-now', cleanup), 'ca.pem');
    writeFileSync(currentBundle, newRoot.roots.join('\n'));
    outputs.CSDS = await csdsDump(xdsPort, currentBundle, [...tokens].find(([what]) => what.startsWith('token web'))?.[1] ?? '');
    outputs['meshcp status'] = (
      await promisify(execFile)(process.execPath, [MESHCP_BIN, 'status', '--admin-address', `127.0.0.1:${adminPort}`], { encoding: 'utf8' })
    ).stdout;
    outputs['server stdout+stderr'] = serve.output();

    // The search is real: the config dump names the secrets it redacts, and the log saw every issuance.
    expect(outputs['/debug/config_dump?proxy=web']).toContain('[redacted]');
    expect(outputs['server stdout+stderr']).toContain('workload certificate published');
    expect(outputs.CSDS).toContain('payments-sidecar');
    console.log(
      `searched ${Object.keys(outputs).length} outputs (${Object.values(outputs).reduce((n, t) => n + t.length, 0)} chars) for ${needles.length} needles (${workloadKeys} workload keys, 2 root keys, ${tokens.size} tokens)`,
    );
    expect(findSecrets(outputs, needles)).toEqual([]);
  });
});
