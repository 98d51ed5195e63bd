/**
 * `meshcp status --xds-address`: the proxies table from CSDS, the standard way to ask a
 * control plane what each proxy holds (csds.ts serves it), instead of the admin API.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { decodeToJson, encodeJson, loadEnvoyApi } from '@meshcp/xds-protos';
import { CSDS_SERVICE, shortTypeName } from './xds/csds.js';
import { worseState } from './xds/sync-state.js';

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

/** The table rows: node, version, profile, mode and each type's state (SYNCED, STALE, NOT_SENT, NACKED). */
export function csdsRows(configs: readonly CsdsConfig[]): string[][] {
  const rows = [['NODE', 'VERSION', 'PROFILE', 'MODE', 'CDS', 'EDS', 'LDS', 'RDS', 'SDS']];
  for (const config of configs) {
    const metadata = config.node?.metadata ?? {};
    const byType = new Map<string, string>();
    for (const resource of config.generic_xds_configs ?? []) {
      const state = resource.client_status === 'NACKED' || resource.config_status === 'ERROR' ? 'NACKED' : (resource.config_status ?? 'UNKNOWN');
      const short = shortTypeName(resource.type_url);
      // A type is shown at its worst resource's state.
      byType.set(short, worseState(byType.get(short), state));
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

// ---- `meshcp status PROXY`: one proxy's resources, and how they differ from what meshcp would send now ----

/** One resource a proxy holds (or last refused), from CSDS. */
export interface HeldResource {
  type: string;
  name: string;
  version: string;
  /** SYNCED, STALE, NOT_SENT or NACKED. */
  status: string;
  /** Envoy's words when it refused the last version of this type. */
  nack?: string;
}

interface CsdsResourceJson {
  type_url: string;
  name?: string;
  version_info?: string;
  config_status?: string;
  client_status?: string;
  error_state?: { details?: string; version_info?: string };
}

export function heldResources(config: CsdsConfig): HeldResource[] {
  return ((config.generic_xds_configs ?? []) as CsdsResourceJson[])
    .filter((r) => r.name)
    .map((r) => ({
      type: shortTypeName(r.type_url),
      name: r.name as string,
      version: r.version_info ?? '',
      status: r.client_status === 'NACKED' || r.config_status === 'ERROR' ? 'NACKED' : (r.config_status ?? 'UNKNOWN'),
      ...(r.error_state?.details ? { nack: r.error_state.details } : {}),
    }))
    .sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name));
}

/** What meshcp would send the proxy now, per type: the admin API's /debug/config_dump?proxy=ID. */
export type ServedNow = Record<string, { name: string; version: string }[]>;

export interface ResourceChange {
  type: string;
  name: string;
  /** add: meshcp would send it, the proxy lacks it; remove: the proxy holds what meshcp no longer has; update: versions differ. */
  change: 'add' | 'remove' | 'update';
  held?: string;
  now?: string;
  nack?: string;
}

/**
 * Types whose subscription is every resource (LDS, CDS): a resource meshcp has and the
 * proxy lacks is missing. For the others the proxy names what it wants, so only what
 * it holds is compared (a gRPC client that never asked for an EDS cluster lacks nothing).
 */
const WILDCARD_TYPES = new Set(['LDS', 'CDS']);

/**
 * Resource by resource, what the proxy holds against what meshcp would send now.
 * Versions are content hashes (xds-protos `encodeResource`), so equal versions are
 * equal content and a differing version is a changed resource.
 */
export function configDiff(held: readonly HeldResource[], now: ServedNow): ResourceChange[] {
  const changes: ResourceChange[] = [];
  const heldByKey = new Map(held.map((r) => [`${r.type}\u0000${r.name}`, r]));
  const nackOf = (type: string) => held.find((r) => r.type === type && r.nack)?.nack;
  for (const [type, resources] of Object.entries(now)) {
    for (const resource of resources) {
      const mine = heldByKey.get(`${type}\u0000${resource.name}`);
      const nack = nackOf(type);
      if (!mine) {
        if (WILDCARD_TYPES.has(type)) changes.push({ type, name: resource.name, change: 'add', now: resource.version, ...(nack ? { nack } : {}) });
      } else if (mine.version !== resource.version) {
        changes.push({ type, name: resource.name, change: 'update', held: mine.version, now: resource.version, ...(nack ? { nack } : {}) });
      }
    }
  }
  for (const mine of held) {
    if (!(now[mine.type] ?? []).some((r) => r.name === mine.name)) changes.push({ type: mine.type, name: mine.name, change: 'remove', held: mine.version });
  }
  return changes.sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name));
}

const short = (version: string | undefined) => (version ? version.slice(0, 12) : '-');

/** The text `meshcp status PROXY` prints: the proxy, its resources, then the diff. */
export function formatProxyStatus(config: CsdsConfig, now: ServedNow | undefined): string {
  const metadata = config.node?.metadata ?? {};
  const held = heldResources(config);
  const lines = [
    `proxy ${config.node?.id ?? '?'}  version ${String(metadata['meshcp.version'] ?? config.node?.user_agent_version ?? '?')}  profile ${String(metadata['meshcp.profile'] ?? '?')}  mode ${String(metadata['meshcp.mode'] ?? '?')}`,
    '',
  ];
  const rows = [['TYPE', 'NAME', 'VERSION', 'STATUS'], ...held.map((r) => [r.type, r.name, short(r.version), r.status])];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  for (const row of rows)
    lines.push(
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
  const nacks = new Map(held.filter((r) => r.nack).map((r) => [r.type, r.nack as string]));
  for (const [type, detail] of nacks) lines.push(`${type} NACKED: ${detail.trim()}`);
  lines.push('');
  if (!now) {
    lines.push('diff: not available (the admin API is not reachable: give --admin-address)');
    return `${lines.join('\n')}\n`;
  }
  const changes = configDiff(held, now);
  if (changes.length === 0) {
    lines.push(`diff against what meshcp would send now: none (${held.length} resources in sync)`);
    return `${lines.join('\n')}\n`;
  }
  lines.push(`diff against what meshcp would send now (${changes.length}):`);
  const mark = { add: '+', remove: '-', update: '~' } as const;
  for (const c of changes) {
    const versions =
      c.change === 'add' ? `now ${short(c.now)}` : c.change === 'remove' ? `held ${short(c.held)}` : `held ${short(c.held)} → now ${short(c.now)}`;
    lines.push(`  ${mark[c.change]} ${c.type} ${c.name}  ${versions}${c.nack ? `  (the proxy refused the last ${c.type} update)` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}
