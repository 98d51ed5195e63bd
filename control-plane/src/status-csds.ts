/**
 * `meshcp status --xds-address`: the proxies table from CSDS, the standard way to ask a
 * control plane what each proxy holds (csds.ts serves it), instead of the admin API.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { decodeToJson, type EnvoyApi, encodeJson, loadEnvoyApi } from '@meshcp/xds-protos';
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

/** What meshcp would send the proxy now, per type: the admin API's /debug/config_dump?proxy=ID (content with it, secrets redacted). */
export type ServedNow = Record<string, { name: string; version: string; resource?: unknown }[]>;

/** What the proxy itself holds, `TYPE\0name` → resource content (its own config dump: `proxyHeldConfig`). */
export type ProxyHeld = ReadonlyMap<string, unknown>;

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

// ---- field by field: what the proxy holds of a resource against what meshcp would send now ----

/** Proto message of each type's resources (canonical JSON goes through the codec, so both sides read alike). */
const MESSAGE_OF: Record<string, string> = {
  CDS: 'envoy.config.cluster.v3.Cluster',
  EDS: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  LDS: 'envoy.config.listener.v3.Listener',
  RDS: 'envoy.config.route.v3.RouteConfiguration',
};

/** Where each type's resources sit in Envoy's /config_dump (envoy.admin.v3.*ConfigDump), and their name field. */
const ENVOY_DUMP: Record<string, { type: string; list: string; resource: (entry: Record<string, unknown>) => unknown; name: string }> = {
  'type.googleapis.com/envoy.admin.v3.ClustersConfigDump': { type: 'CDS', list: 'dynamic_active_clusters', resource: (e) => e.cluster, name: 'name' },
  'type.googleapis.com/envoy.admin.v3.ListenersConfigDump': {
    type: 'LDS',
    list: 'dynamic_listeners',
    resource: (e) => (e.active_state as Record<string, unknown> | undefined)?.listener,
    name: 'name',
  },
  'type.googleapis.com/envoy.admin.v3.RoutesConfigDump': { type: 'RDS', list: 'dynamic_route_configs', resource: (e) => e.route_config, name: 'name' },
  'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump': {
    type: 'EDS',
    list: 'dynamic_endpoint_configs',
    resource: (e) => e.endpoint_config,
    name: 'cluster_name',
  },
  'type.googleapis.com/envoy.admin.v3.SecretsConfigDump': { type: 'SDS', list: 'dynamic_active_secrets', resource: (e) => e.secret, name: 'name' },
};

/**
 * What an Envoy holds, read from its admin `/config_dump?include_eds`: the active
 * resource of each dynamic (xDS) name. Warming and refused versions are not held.
 */
export function proxyHeldConfig(dump: unknown): Map<string, unknown> {
  const held = new Map<string, unknown>();
  for (const config of ((dump as { configs?: Record<string, unknown>[] })?.configs ?? []) as Record<string, unknown>[]) {
    const where = ENVOY_DUMP[String(config['@type'])];
    if (!where) continue;
    for (const entry of (config[where.list] ?? []) as Record<string, unknown>[]) {
      const resource = where.resource(entry) as Record<string, unknown> | undefined;
      const name = resource?.[where.name];
      if (!resource || typeof name !== 'string') continue;
      const { '@type': _type, ...content } = resource;
      held.set(`${where.type}\u0000${name}`, content);
    }
  }
  return held;
}

/** One field that differs: its path, and the value the proxy holds (`held`) and meshcp would send (`now`); undefined = absent. */
export interface FieldChange {
  path: string;
  held?: string;
  now?: string;
}

/** Fields named as key material wherever they appear (any type): their values are never printed. An SDS secret hides every value. */
const SECRET_FIELD = /(^|_)(private_key|password|secret|token|session_ticket_keys)s?$/i;
const REDACTED = '[redacted]';
/** Longest value printed, in characters. */
const MAX_VALUE = 60;

function render(value: unknown, redact: boolean): string | undefined {
  if (value === undefined) return undefined;
  if (redact) return REDACTED;
  const text = JSON.stringify(value);
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Elements matched by their `name` when every element on both sides has a distinct one (filters, filter chains, clusters), else by index. */
function keyed(list: readonly unknown[]): Map<string, unknown> | undefined {
  const map = new Map<string, unknown>();
  for (const item of list) {
    const name = isObject(item) ? item.name : undefined;
    if (typeof name !== 'string' || map.has(name)) return undefined;
    map.set(name, item);
  }
  return map;
}

/**
 * The fields in which two resources differ, depth first, as paths (`a.b[name].c`,
 * `a.list[2]`) with the proxy's value and meshcp's. `redactAll` (secrets) keeps the
 * paths and hides every value; a field named like key material is hidden anywhere.
 */
export function fieldDiff(held: unknown, now: unknown, redactAll = false): FieldChange[] {
  const changes: FieldChange[] = [];
  const walk = (a: unknown, b: unknown, path: string, redact: boolean): void => {
    if (isObject(a) && isObject(b)) {
      for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
        walk(a[key], b[key], path ? `${path}.${key}` : key, redact || SECRET_FIELD.test(key));
      }
      return;
    }
    if (Array.isArray(a) && Array.isArray(b)) {
      const [byNameA, byNameB] = [keyed(a), keyed(b)];
      if (byNameA && byNameB) {
        for (const name of [...new Set([...byNameA.keys(), ...byNameB.keys()])]) walk(byNameA.get(name), byNameB.get(name), `${path}[${name}]`, redact);
      } else for (let i = 0; i < Math.max(a.length, b.length); i++) walk(a[i], b[i], `${path}[${i}]`, redact);
      return;
    }
    if (JSON.stringify(a) === JSON.stringify(b)) return;
    const change: FieldChange = { path: path || '(resource)' };
    const heldText = render(a, redact);
    const nowText = render(b, redact);
    if (heldText !== undefined) change.held = heldText;
    if (nowText !== undefined) change.now = nowText;
    changes.push(change);
  };
  walk(held, now, '', redactAll);
  return changes;
}

/** What of protobufjs' reflection the default-stripping walk reads (xds-protos' `EnvoyApi`). */
type MessageType = ReturnType<EnvoyApi['lookupType']>;

/**
 * Drops fields set to their proto3 default (0, "", false, an enum's zero value), which
 * Envoy's dump never prints and meshcp's translation may spell out (codec_type: AUTO).
 * Fields with presence (oneof members, `optional`, messages and wrappers) stay.
 */
function stripDefaults(api: EnvoyApi, type: MessageType, json: unknown): unknown {
  if (!isObject(json)) return json;
  let message = type;
  if (type.fullName === '.google.protobuf.Any' && typeof json['@type'] === 'string') {
    try {
      message = api.lookupType(json['@type'].slice(json['@type'].lastIndexOf('/') + 1));
    } catch {
      return json;
    }
  } else if (type.fullName.startsWith('.google.protobuf.')) return json; // Struct, Duration, wrappers: JSON of their own
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    const field = message.fields[key]?.resolve();
    if (!field) {
      out[key] = value;
      continue;
    }
    const resolved = field.resolvedType as (MessageType & { values?: undefined }) | { values: Record<string, number> } | null;
    const presence = field.partOf !== null || (resolved !== null && !('values' in resolved && resolved.values));
    if (!field.repeated && !field.map && !presence) {
      const zeroEnum =
        resolved && 'values' in resolved && resolved.values ? Object.keys(resolved.values).find((name) => resolved.values?.[name] === 0) : undefined;
      if (value === 0 || value === '0' || value === '' || value === false || (zeroEnum !== undefined && value === zeroEnum)) continue;
    }
    const messageType = resolved && !('values' in resolved && resolved.values) ? (resolved as MessageType) : undefined;
    if (messageType && field.repeated && Array.isArray(value)) out[key] = value.map((item) => stripDefaults(api, messageType, item));
    else if (messageType && field.map && isObject(value))
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, stripDefaults(api, messageType, v)]));
    else if (messageType) out[key] = stripDefaults(api, messageType, value);
    else out[key] = value;
  }
  return out;
}

/**
 * Envoy's EDS dump is rebuilt from its host set, not the message it took: it spells out
 * what an unset field means (an endpoint's weight 1, an empty health-check config, a
 * locality's weight 0, overprovisioning 140). Both sides drop those, so they are not
 * differences.
 */
function withoutEdsDefaults(json: unknown): unknown {
  if (!isObject(json)) return json;
  const out = structuredClone(json) as Record<string, unknown>;
  const policy = out.policy as Record<string, unknown> | undefined;
  if (policy?.overprovisioning_factor === 140) delete policy.overprovisioning_factor;
  if (policy && Object.keys(policy).length === 0) delete out.policy;
  for (const locality of (out.endpoints ?? []) as Record<string, unknown>[]) {
    if (locality.load_balancing_weight === 0) delete locality.load_balancing_weight;
    for (const lbEndpoint of (locality.lb_endpoints ?? []) as Record<string, unknown>[]) {
      if (lbEndpoint.load_balancing_weight === 1) delete lbEndpoint.load_balancing_weight;
      const endpoint = lbEndpoint.endpoint as Record<string, unknown> | undefined;
      if (isObject(endpoint?.health_check_config) && Object.keys(endpoint.health_check_config).length === 0) delete endpoint.health_check_config;
    }
  }
  return out;
}

/**
 * A resource as proto3 JSON the codec writes it, defaults dropped, so Envoy's dump and
 * meshcp's translation compare field by field, not by how each spelled them. Left as it
 * is when the codec cannot read it (a field this build does not know).
 */
function canonical(type: string, resource: unknown, api: EnvoyApi | undefined): unknown {
  const message = MESSAGE_OF[type];
  if (!message || !api) return resource;
  try {
    const json = decodeToJson(api, message, encodeJson(api, message, resource as Record<string, unknown>));
    const stripped = stripDefaults(api, api.lookupType(message), json);
    return type === 'EDS' ? withoutEdsDefaults(stripped) : stripped;
  } catch {
    return resource;
  }
}

/**
 * The fields in which the proxy's copy of one resource differs from meshcp's, both read
 * the same way first (the codec, proto3 defaults dropped); an SDS secret's values hidden.
 */
export function resourceFieldDiff(type: string, held: unknown, now: unknown, api: EnvoyApi = loadEnvoyApi()): FieldChange[] {
  if (type === 'SDS') return fieldDiff(held, now, true);
  return fieldDiff(canonical(type, held, api), canonical(type, now, api));
}

/** Field lines printed per resource, and in all. */
const MAX_FIELDS_PER_RESOURCE = 8;
const MAX_FIELD_LINES = 40;

/**
 * The text `meshcp status PROXY` prints: the proxy, its resources, then the diff. With
 * `proxyHeld` (the proxy's own config dump), each changed resource lists the fields that
 * differ, held → now, bounded; an SDS secret's values are never printed.
 */
export function formatProxyStatus(config: CsdsConfig, now: ServedNow | undefined, proxyHeld?: ProxyHeld): string {
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
  const contentOf = new Map<string, unknown>(
    Object.entries(now).flatMap(([type, list]) => list.map((r): [string, unknown] => [`${type}\u0000${r.name}`, r.resource])),
  );
  let api: EnvoyApi | undefined;
  let fieldLines = 0;
  let unlisted = 0;
  for (const c of changes) {
    const versions =
      c.change === 'add' ? `now ${short(c.now)}` : c.change === 'remove' ? `held ${short(c.held)}` : `held ${short(c.held)} → now ${short(c.now)}`;
    lines.push(`  ${mark[c.change]} ${c.type} ${c.name}  ${versions}${c.nack ? `  (the proxy refused the last ${c.type} update)` : ''}`);
    const key = `${c.type}\u0000${c.name}`;
    if (c.change !== 'update' || !proxyHeld?.has(key) || contentOf.get(key) === undefined) continue;
    api ??= loadEnvoyApi();
    const fields = resourceFieldDiff(c.type, proxyHeld.get(key), contentOf.get(key), api);
    const shown = fields.slice(0, Math.min(MAX_FIELDS_PER_RESOURCE, Math.max(0, MAX_FIELD_LINES - fieldLines)));
    for (const f of shown) lines.push(`      ${f.path}: ${f.held ?? '(none)'} → ${f.now ?? '(none)'}`);
    fieldLines += shown.length;
    if (fields.length > shown.length) {
      lines.push(`      … ${fields.length - shown.length} more field${fields.length - shown.length === 1 ? '' : 's'}`);
      unlisted += fields.length - shown.length;
    }
    // Envoy applies SotW listeners and clusters one by one: a refused response may still have updated this one.
    if (fields.length === 0)
      lines.push(
        c.nack
          ? '      (the proxy holds this content: it applied this resource from the response it refused)'
          : '      (same content: only the version differs)',
      );
  }
  if (!proxyHeld && changes.some((c) => c.change === 'update')) {
    lines.push("  (which fields differ: give --proxy-admin HOST:PORT, the proxy's Envoy admin, to compare with what it holds)");
  }
  if (unlisted > 0) lines.push(`  (${unlisted} differing fields not listed; the proxy's /config_dump has them all)`);
  return `${lines.join('\n')}\n`;
}
