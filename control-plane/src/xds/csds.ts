/**
 * CSDS: `envoy.service.status.v3.ClientStatusDiscoveryService`, so standard tools (and
 * `meshcp status --xds-address`) can ask meshcp what each connected proxy holds. The
 * answer is read from the admin records and the stream state machines at request time.
 */
import { decodeToJson, type EnvoyApi, encodeJson, SHORT_NAME, type TypeUrl } from '@meshcp/xds-protos';
import { type ConnectionRecord, type NackRecord, responseStatusOf, type TypeRecord } from './connection.js';

type Json = unknown;

export const CSDS_SERVICE = 'envoy.service.status.v3.ClientStatusDiscoveryService';
const REQUEST = 'envoy.service.status.v3.ClientStatusRequest';
const RESPONSE = 'envoy.service.status.v3.ClientStatusResponse';

/** What CSDS reads: the open streams' records and what each client holds per type. */
export interface CsdsFleet {
  connections(): readonly ConnectionRecord[];
  resourcesHeld(record: ConnectionRecord, typeUrl: TypeUrl): readonly [string, string][];
}

/** A request that CSDS cannot answer (an unsupported matcher). */
export class CsdsRequestError extends Error {}

/** `node_id` matchers: exact and prefix; no matcher means every proxy. */
function nodeFilter(request: Record<string, unknown>): (nodeId: string) => boolean {
  const matchers = (request.node_matchers ?? []) as { node_id?: { exact?: string; prefix?: string }; node_metadatas?: unknown[] }[];
  if (matchers.length === 0) return () => true;
  const tests = matchers.map((matcher) => {
    if (matcher.node_metadatas?.length) throw new CsdsRequestError('node_metadatas matchers are not supported');
    const id = matcher.node_id;
    if (!id) return () => true;
    if (id.exact !== undefined) return (nodeId: string) => nodeId === id.exact;
    if (id.prefix !== undefined) return (nodeId: string) => nodeId.startsWith(id.prefix ?? '');
    throw new CsdsRequestError('only exact and prefix node_id matchers are supported');
  });
  return (nodeId) => tests.some((test) => test(nodeId));
}

const CONFIG_STATUS = { SYNCED: 'SYNCED', STALE: 'STALE', NOT_SENT: 'NOT_SENT', NACKED: 'ERROR' } as const;
/** envoy.admin.v3.ClientResourceStatus: what the client did with the last response. */
const CLIENT_STATUS = { SYNCED: 'ACKED', STALE: 'REQUESTED', NOT_SENT: 'REQUESTED', NACKED: 'NACKED' } as const;

const errorState = (nack: NackRecord): Json => ({ details: nack.error, version_info: nack.version, last_update_attempt: nack.at });

function typeConfigs(typeUrl: TypeUrl, type: TypeRecord, held: readonly [string, string][]): Json[] {
  const status = responseStatusOf(type);
  const common: Record<string, Json> = { type_url: typeUrl, config_status: CONFIG_STATUS[status], client_status: CLIENT_STATUS[status] };
  if (type.lastResponseNacked && type.lastNack) common.error_state = errorState(type.lastNack);
  // A resource held back at an older version (its current one rejected) is NACKED whatever later responses did.
  const rejected = type.rejected;
  const suspects = type.lastResponseNacked ? undefined : type.suspects;
  const row = (name: string, version: string): Json => {
    const nack = rejected?.get(name);
    // Part of a several-resource NACK, re-sent alone to learn whether it is the one refused: not yet known to be taken.
    if (!nack && suspects?.has(name)) return { ...common, name, version_info: version, config_status: 'STALE', client_status: 'REQUESTED' };
    if (!nack) return { ...common, name, version_info: version };
    return { ...common, name, version_info: version, config_status: 'ERROR', client_status: 'NACKED', error_state: errorState(nack) };
  };
  const rows = held.map(([name, version]) => row(name, version));
  // Rejected (or suspect) before the client held any version of it: it holds nothing, and the row says so.
  if (rejected?.size || type.suspects?.size) {
    const heldNames = new Set(held.map(([name]) => name));
    for (const name of rejected?.keys() ?? []) if (!heldNames.has(name)) rows.push(row(name, ''));
    for (const name of type.suspects?.keys() ?? []) if (!heldNames.has(name) && !rejected?.has(name)) rows.push(row(name, ''));
  }
  // A type with nothing held still shows its state (subscribed, nothing sent or accepted yet).
  if (rows.length === 0) return [{ ...common, name: '', version_info: type.ackedVersion ?? '' }];
  return rows;
}

/** The ClientStatusResponse, as proto JSON: one ClientConfig per node id, its streams' types merged. */
export function clientStatus(fleet: CsdsFleet, request: Record<string, unknown>): { config: Json[] } {
  const wanted = nodeFilter(request);
  const byNode = new Map<string, { node: Json; configs: Json[] }>();
  for (const record of fleet.connections()) {
    if (!wanted(record.nodeId)) continue;
    // Keyed by identity too: another workload claiming this node id is another client, never merged into it.
    const key = JSON.stringify([record.identity, record.nodeId]);
    let entry = byNode.get(key);
    if (!entry) {
      // What meshcp made of the node rides along in its metadata (the client's own metadata is not echoed).
      const metadata = {
        'meshcp.version': record.version,
        'meshcp.profile': record.profile,
        'meshcp.client_kind': record.clientKind,
        'meshcp.mode': record.mode,
      };
      entry = { node: { ...(record.node ?? { id: record.nodeId }), metadata } as Json, configs: [] };
      byNode.set(key, entry);
    }
    for (const [typeUrl, type] of record.types) entry.configs.push(...typeConfigs(typeUrl, type, fleet.resourcesHeld(record, typeUrl)));
  }
  return { config: [...byNode.values()].map(({ node, configs }) => ({ node, generic_xds_configs: configs })) };
}

export function decodeClientStatusRequest(api: EnvoyApi, bytes: Uint8Array): Record<string, unknown> {
  try {
    return decodeToJson(api, REQUEST, bytes);
  } catch (error) {
    throw new CsdsRequestError(`malformed ClientStatusRequest: ${String((error as Error)?.message ?? error)}`);
  }
}

export function encodeClientStatusResponse(api: EnvoyApi, response: { config: Json[] }): Buffer {
  return Buffer.from(encodeJson(api, RESPONSE, response));
}

/** Short names per type for printing (`meshcp status`). */
export function shortTypeName(typeUrl: string): string {
  return SHORT_NAME[typeUrl as TypeUrl] ?? typeUrl.split('.').pop() ?? typeUrl;
}
