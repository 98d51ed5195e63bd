/**
 * `meshcp status --xds-address`: the proxies table from CSDS, the standard way to ask a
 * control plane what each proxy holds (csds.ts serves it), instead of the admin API.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { decodeToJson, encodeJson, loadEnvoyApi } from '@meshcp/xds-protos';
import { CSDS_SERVICE, shortTypeName } from './xds/csds.js';

interface CsdsConfig {
  node?: { id?: string; user_agent_version?: string; metadata?: Record<string, unknown> };
  generic_xds_configs?: { type_url: string; config_status?: string; client_status?: string }[];
}

export interface CsdsStatusOptions {
  address: string;
  /** TLS: the CA that signed the xDS server's certificate, and optionally a client certificate and key. */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  serverName?: string;
  /** Only this node (exact node id). */
  nodeId?: string;
}

const raw = (b: Buffer) => b;

export async function fetchCsds(options: CsdsStatusOptions): Promise<CsdsConfig[]> {
  const api = loadEnvoyApi();
  const credentials = options.caFile
    ? grpc.credentials.createSsl(
        readFileSync(options.caFile),
        options.keyFile ? readFileSync(options.keyFile) : null,
        options.certFile ? readFileSync(options.certFile) : null,
      )
    : grpc.credentials.createInsecure();
  const client = new grpc.Client(options.address, credentials, options.serverName ? { 'grpc.ssl_target_name_override': options.serverName } : {});
  const request = options.nodeId ? { node_matchers: [{ node_id: { exact: options.nodeId } }] } : {};
  const bytes = Buffer.from(encodeJson(api, 'envoy.service.status.v3.ClientStatusRequest', request));
  try {
    const response = await new Promise<Buffer>((resolve, reject) => {
      client.makeUnaryRequest(`/${CSDS_SERVICE}/FetchClientStatus`, raw, raw, bytes, { deadline: Date.now() + 10_000 }, (error, value) => {
        if (error || !value) reject(error ?? new Error('empty CSDS response'));
        else resolve(value);
      });
    });
    return ((decodeToJson(api, 'envoy.service.status.v3.ClientStatusResponse', response) as { config?: CsdsConfig[] }).config ?? []) as CsdsConfig[];
  } finally {
    client.close();
  }
}

/** Worst first: a type is shown at its worst resource's state. */
const RANK: Record<string, number> = { SYNCED: 0, NOT_SENT: 1, STALE: 2, NACKED: 3 };

/** The table rows: node, version, profile, mode and each type's state (SYNCED, STALE, NOT_SENT, NACKED). */
export function csdsRows(configs: readonly CsdsConfig[]): string[][] {
  const rows = [['NODE', 'VERSION', 'PROFILE', 'MODE', 'CDS', 'EDS', 'LDS', 'RDS', 'SDS']];
  for (const config of configs) {
    const metadata = config.node?.metadata ?? {};
    const byType = new Map<string, string>();
    for (const resource of config.generic_xds_configs ?? []) {
      const state = resource.client_status === 'NACKED' || resource.config_status === 'ERROR' ? 'NACKED' : (resource.config_status ?? 'UNKNOWN');
      const short = shortTypeName(resource.type_url);
      const before = byType.get(short);
      if (!before || (RANK[state] ?? 0) > (RANK[before] ?? 0)) byType.set(short, state);
    }
    rows.push([
      config.node?.id ?? '?',
      String(metadata['meshcp.version'] ?? config.node?.user_agent_version ?? '?'),
      String(metadata['meshcp.profile'] ?? '?'),
      String(metadata['meshcp.mode'] ?? '?'),
      ...['CDS', 'EDS', 'LDS', 'RDS', 'SDS'].map((type) => byType.get(type) ?? '-'),
    ]);
  }
  return rows;
}
