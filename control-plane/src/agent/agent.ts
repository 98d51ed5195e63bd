/**
 * `meshcp agent`: keeps a proxyless gRPC workload's certificate files current. It
 * authenticates to meshcp like the workload's own xDS client (client certificate or
 * ServiceAccount token over TLS), asks ADS for the same SDS secrets meshcp serves a
 * sidecar (`default`: the workload's SVID and key, `ROOTCA`: the trust bundle), and
 * writes them as cert.pem, key.pem and ca.pem, each by write-then-rename so gRPC's
 * `file_watcher` certificate provider never reads half a file. meshcp re-issues at
 * half life and when the bundle changes; each push is written again.
 *
 * Why SDS over ADS and not a new endpoint: the secrets are already scoped to the
 * stream's authenticated identity (the cache keys them by identity), so the agent
 * gets exactly what the workload's sidecar would, through the admission, limits and
 * audit every other stream goes through (docs/architecture.md).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { AGENT_USER_AGENT, TRUST_BUNDLE_SECRET, WORKLOAD_CERTIFICATE_SECRET, WORKLOAD_FILES } from '@meshcp/translators';
import { type DecodedResponse, decodeDiscoveryResponse, encodeDiscoveryRequest, SECRET } from '@meshcp/xds-protos';

const ADS_METHOD = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const raw = (b: Buffer) => b;

export interface AgentOptions {
  /** meshcp's xDS address, HOST:PORT. */
  xdsAddress: string;
  /** The mesh trust bundle the xDS server's certificate must chain to. */
  caFile: string;
  /** Authenticate with a client certificate (an SVID, e.g. from `meshcp identity issue`)… */
  certFile?: string;
  keyFile?: string;
  /** …or a ServiceAccount token, re-read for every stream (projected tokens rotate). */
  tokenFile?: string;
  serverName?: string;
  nodeId: string;
  namespace?: string;
  serviceAccount?: string;
  /** Where cert.pem, key.pem and ca.pem go. */
  outDir: string;
  version?: string;
  /** Called after each write, with the files' fingerprint. */
  onWrite?: (written: WrittenCertificates) => void;
  onError?: (message: string) => void;
}

export interface WrittenCertificates {
  certificateSha256: string;
  trustBundleSha256: string;
  writtenAt: Date;
}

interface SecretJson {
  name?: string;
  tls_certificate?: { certificate_chain?: { inline_string?: string }; private_key?: { inline_string?: string } };
  validation_context?: { trusted_ca?: { inline_string?: string } };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Write-then-rename in the same directory: readers see the old file or the new one, never a partial one. */
export function writeAtomically(path: string, content: string, mode = 0o644): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, content, { mode });
  renameSync(temporary, path);
}

export class WorkloadCertificateAgent {
  private client?: grpc.Client;
  private call?: grpc.ClientDuplexStream<Buffer, Buffer>;
  private stopped = false;
  private retryTimer?: NodeJS.Timeout;
  private backoffMs = 500;
  private written?: { certificate: string; bundle: string };
  private firstWrite?: () => void;
  /** The newest of each secret received on the current stream. */
  private readonly latest = new Map<string, SecretJson>();

  constructor(private readonly options: AgentOptions) {}

  /** Connects; resolves once the files were written the first time. */
  start(): Promise<void> {
    mkdirSync(this.options.outDir, { recursive: true, mode: 0o700 });
    const first = new Promise<void>((resolve) => {
      this.firstWrite = resolve;
    });
    this.connect();
    return first;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.call?.cancel();
    this.client?.close();
  }

  private credentials(): grpc.ChannelCredentials {
    const o = this.options;
    const tls = grpc.credentials.createSsl(readFileSync(o.caFile), o.keyFile ? readFileSync(o.keyFile) : null, o.certFile ? readFileSync(o.certFile) : null);
    if (!o.tokenFile) return tls;
    const tokenFile = o.tokenFile;
    const token = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
      const metadata = new grpc.Metadata();
      try {
        metadata.add('authorization', `Bearer ${readFileSync(tokenFile, 'utf8').trim()}`);
        callback(null, metadata);
      } catch (error) {
        callback(error as Error);
      }
    });
    return grpc.credentials.combineChannelCredentials(tls, token);
  }

  private connect(): void {
    if (this.stopped) return;
    const o = this.options;
    let credentials: grpc.ChannelCredentials;
    try {
      credentials = this.credentials();
    } catch (error) {
      this.retry(`reading credentials: ${(error as Error).message}`);
      return;
    }
    this.client?.close();
    this.client = new grpc.Client(o.xdsAddress, credentials, o.serverName ? { 'grpc.ssl_target_name_override': o.serverName } : {});
    const call = this.client.makeBidiStreamRequest(ADS_METHOD, raw, raw);
    this.call = call;
    this.latest.clear();
    const metadata: Record<string, string> = {};
    if (o.namespace) metadata['meshcp.namespace'] = o.namespace;
    if (o.serviceAccount) metadata['meshcp.service_account'] = o.serviceAccount;
    const request = (extra: { version_info?: string; response_nonce?: string; error_detail?: { code: number; message: string } } = {}) =>
      encodeDiscoveryRequest({
        node: { id: o.nodeId, user_agent_name: AGENT_USER_AGENT, user_agent_version: o.version ?? '', metadata },
        type_url: SECRET,
        resource_names: [WORKLOAD_CERTIFICATE_SECRET, TRUST_BUNDLE_SECRET],
        ...extra,
      });
    let acked = '';
    call.on('data', (bytes: Buffer) => {
      let response: DecodedResponse;
      try {
        response = decodeDiscoveryResponse(bytes);
      } catch (error) {
        this.report(`undecodable response: ${(error as Error).message}`);
        return;
      }
      try {
        this.write(response.resources as SecretJson[] | undefined);
        acked = response.version_info ?? '';
        call.write(request({ version_info: acked, response_nonce: response.nonce ?? '' }));
        this.backoffMs = 500;
      } catch (error) {
        // NACK: keep serving the files written before (never delete what works).
        call.write(request({ version_info: acked, response_nonce: response.nonce ?? '', error_detail: { code: 3, message: (error as Error).message } }));
        this.report(`rejected secrets: ${(error as Error).message}`);
      }
    });
    call.on('status', (status: grpc.StatusObject) => {
      if (this.call === call) this.retry(`stream ended: ${grpc.status[status.code]} ${status.details}`);
    });
    call.on('error', () => undefined);
    call.write(request());
  }

  private retry(why: string): void {
    if (this.stopped) return;
    this.report(`${why}; reconnecting in ${this.backoffMs} ms`);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
  }

  private report(message: string): void {
    this.options.onError?.(message);
  }

  private write(resources: SecretJson[] | undefined): void {
    // SDS is not a state-of-the-world type: a push may carry only the secret that
    // changed (a renewed certificate without the unchanged bundle), so keep the latest of each.
    for (const secret of resources ?? []) if (secret.name) this.latest.set(secret.name, secret);
    const workload = this.latest.get(WORKLOAD_CERTIFICATE_SECRET)?.tls_certificate;
    const bundle = this.latest.get(TRUST_BUNDLE_SECRET)?.validation_context?.trusted_ca?.inline_string;
    const certificate = workload?.certificate_chain?.inline_string;
    const key = workload?.private_key?.inline_string;
    // Until both are known (the identity's certificate not issued yet) responses are acknowledged and waited past.
    if (!certificate || !key || !bundle) return;
    if (!certificate.includes('BEGIN CERTIFICATE') || !key.includes('PRIVATE KEY') || !bundle.includes('BEGIN CERTIFICATE'))
      throw new Error('secret is not PEM');
    if (this.written?.certificate === certificate && this.written.bundle === bundle) return;
    const dir = this.options.outDir;
    // The bundle first (a new root must be trusted before a peer shows a certificate from it),
    // then key and certificate back to back.
    writeAtomically(join(dir, WORKLOAD_FILES.trustBundle), bundle);
    writeAtomically(join(dir, WORKLOAD_FILES.privateKey), key, 0o600);
    writeAtomically(join(dir, WORKLOAD_FILES.certificate), certificate);
    this.written = { certificate, bundle };
    this.options.onWrite?.({ certificateSha256: sha256(certificate), trustBundleSha256: sha256(bundle), writtenAt: new Date() });
    this.firstWrite?.();
    this.firstWrite = undefined;
  }
}
