/**
 * `meshcp agent` against a scripted ADS server over mesh TLS: it asks for the SDS
 * secrets `default` + `ROOTCA`, writes cert/key/CA files (key 0600, write+rename,
 * no temporary files left), takes a renewal push that carries only the certificate,
 * NACKs a push that is not PEM while keeping the files that work, and reconnects
 * when the stream ends.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { TRUST_BUNDLE_SECRET, WORKLOAD_CERTIFICATE_SECRET } from '@meshcp/translators';
import { type DiscoveryRequestJson, decodeToJson, type EncodedResource, encodeResource, encodeSotwResponse, loadEnvoyApi, SECRET } from '@meshcp/xds-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkloadCertificateAgent } from '../src/agent/agent.js';
import { MeshCertificateProvider, meshServerCredentials } from '../src/auth/tls.js';
import { CertificateAuthority, type Svid } from '../src/identity/ca.js';
import { FileCaStore } from '../src/identity/file-store.js';
import { rawMethod } from '../src/xds/raw-method.js';

const api = loadEnvoyApi();

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
    const value = probe();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

interface Stream {
  requests: DiscoveryRequestJson[];
  call: grpc.ServerDuplexStream<Buffer, Buffer>;
  authorization?: string;
}

describe('meshcp agent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshcp-agent-'));
  const out = join(dir, 'certs');
  const caFile = join(dir, 'xds-ca.pem');
  let ca: CertificateAuthority;
  let provider: MeshCertificateProvider;
  let server: grpc.Server;
  let port: number;
  const streams: Stream[] = [];
  let agent: WorkloadCertificateAgent;
  const writes: string[] = [];

  const workload = (svid: Svid, certificate = svid.certificateChainPem) =>
    encodeResource(api, SECRET, {
      name: WORKLOAD_CERTIFICATE_SECRET,
      tls_certificate: { certificate_chain: { inline_string: certificate }, private_key: { inline_string: svid.privateKeyPem } },
    }) as EncodedResource;
  const bundle = () =>
    encodeResource(api, SECRET, {
      name: TRUST_BUNDLE_SECRET,
      validation_context: { trusted_ca: { inline_string: ca.trustBundle().join('\n') } },
    }) as EncodedResource;
  const push = (stream: Stream, version: string, resources: EncodedResource[]) =>
    stream.call.write(encodeSotwResponse({ versionInfo: version, typeUrl: SECRET, nonce: `n-${version}`, resources }));

  beforeAll(async () => {
    ca = await CertificateAuthority.open({ trustDomain: 'cluster.local', store: new FileCaStore(join(dir, 'ca.json')) });
    provider = new MeshCertificateProvider(ca, { dns: ['localhost'], ips: ['127.0.0.1'], spiffeId: 'spiffe://cluster.local/ns/meshcp-system/sa/meshcp' });
    await provider.start();
    writeFileSync(caFile, ca.trustBundle().join('\n'));
    server = new grpc.Server();
    server.addService(
      {
        stream: rawMethod('/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources'),
      } as grpc.ServiceDefinition,
      {
        stream: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
          const authorization = call.metadata.get('authorization')[0];
          const stream: Stream = { requests: [], call, ...(authorization ? { authorization: String(authorization) } : {}) };
          streams.push(stream);
          call.on('data', (bytes: Buffer) =>
            stream.requests.push(decodeToJson(api, 'envoy.service.discovery.v3.DiscoveryRequest', bytes) as DiscoveryRequestJson),
          );
          call.on('error', () => undefined);
        },
      },
    );
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', meshServerCredentials(provider), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
  });

  afterAll(() => {
    agent?.stop();
    provider?.stop();
    server?.forceShutdown();
  });

  it('writes the files, takes a certificate-only renewal, NACKs non-PEM keeping the files, and reconnects', async () => {
    agent = new WorkloadCertificateAgent({
      xdsAddress: `127.0.0.1:${port}`,
      caFile,
      serverName: 'localhost',
      nodeId: 'web-agent',
      namespace: 'shop',
      serviceAccount: 'web',
      outDir: out,
      onWrite: (w) => writes.push(w.certificateSha256),
    });
    const started = agent.start();
    const first = await waitFor('the agent opens a stream', () => streams[0]?.requests[0]);
    expect(first.type_url).toBe(SECRET);
    expect(first.resource_names).toEqual([WORKLOAD_CERTIFICATE_SECRET, TRUST_BUNDLE_SECRET]);
    expect(first.node?.user_agent_name).toBe('meshcp-agent');
    expect(first.node?.metadata).toEqual({ 'meshcp.namespace': 'shop', 'meshcp.service_account': 'web' });

    const identity = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' };
    const svidA = await ca.issue(identity);
    push(streams[0] as Stream, 'v1', [workload(svidA), bundle()]);
    await started;
    expect(readFileSync(join(out, 'cert.pem'), 'utf8')).toBe(svidA.certificateChainPem);
    expect(readFileSync(join(out, 'key.pem'), 'utf8')).toBe(svidA.privateKeyPem);
    expect(readFileSync(join(out, 'ca.pem'), 'utf8')).toBe(ca.trustBundle().join('\n'));
    expect(statSync(join(out, 'key.pem')).mode & 0o777).toBe(0o600);
    expect(readdirSync(out).sort()).toEqual(['ca.pem', 'cert.pem', 'key.pem']);
    const ack = await waitFor('the ACK of v1', () => (streams[0] as Stream).requests.find((r) => r.response_nonce === 'n-v1'));
    expect(ack.version_info).toBe('v1');
    expect(ack.error_detail).toBeUndefined();

    // A renewal: SDS is not state-of-the-world, the push carries only the changed secret.
    const svidB = await ca.issue(identity);
    push(streams[0] as Stream, 'v2', [workload(svidB)]);
    await waitFor('the renewed certificate is written', () => readFileSync(join(out, 'cert.pem'), 'utf8') === svidB.certificateChainPem);
    expect(readFileSync(join(out, 'key.pem'), 'utf8')).toBe(svidB.privateKeyPem);
    expect(writes).toHaveLength(2);

    // Garbage is NACKed; the working files stay.
    push(streams[0] as Stream, 'v3', [workload(svidB, 'not a certificate')]);
    const nack = await waitFor('the NACK of v3', () => (streams[0] as Stream).requests.find((r) => r.response_nonce === 'n-v3'));
    expect(nack.version_info).toBe('v2');
    expect(nack.error_detail?.message).toContain('not PEM');
    expect(readFileSync(join(out, 'cert.pem'), 'utf8')).toBe(svidB.certificateChainPem);

    // The stream ends: the agent comes back on a new one and asks again.
    (streams[0] as Stream).call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'restart' });
    (streams[0] as Stream).call.end();
    const again = await waitFor('the agent reconnects', () => streams[1]?.requests[0], 10_000);
    expect(again.resource_names).toEqual([WORKLOAD_CERTIFICATE_SECRET, TRUST_BUNDLE_SECRET]);
  }, 30_000);

  it('with --token-file, sends the token as a bearer credential, re-read for every new stream (projected tokens rotate)', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'token-one\n');
    const before = streams.length;
    const tokenAgent = new WorkloadCertificateAgent({
      xdsAddress: `127.0.0.1:${port}`,
      caFile,
      tokenFile,
      serverName: 'localhost',
      nodeId: 'token-agent',
      outDir: join(dir, 'token-certs'),
    });
    tokenAgent.start().catch(() => undefined);
    try {
      const first = await waitFor('a stream with a token', () => streams[before]);
      expect(first.authorization).toBe('Bearer token-one');
      writeFileSync(tokenFile, 'token-two\n');
      first.call.end();
      const second = await waitFor('the reconnected stream', () => streams[before + 1], 10_000);
      expect(second.authorization).toBe('Bearer token-two');
    } finally {
      tokenAgent.stop();
    }
  }, 30_000);
});
