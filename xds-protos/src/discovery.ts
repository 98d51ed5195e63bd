/**
 * Wire framing of xDS discovery messages. Requests are decoded with protobufjs;
 * responses are assembled by hand from bytes each resource was encoded to once,
 * so a push to N streams costs N byte copies, not N serialisations
 * (go-control-plane #238 shows what per-stream marshalling costs).
 */
import { createHash } from 'node:crypto';
import protobuf from 'protobufjs';
import { type EnvoyApi, loadEnvoyApi } from './descriptors.js';
import { decodeToJson, encodeJson } from './json-codec.js';
import { messageNameOf } from './type-urls.js';

export interface EncodedResource {
  readonly name: string;
  readonly typeUrl: string;
  /** Content hash of `value`: stable across restarts and replicas. */
  readonly version: string;
  /** The resource message itself. */
  readonly value: Uint8Array;
  /** `google.protobuf.Any{type_url, value}`, ready to splice into responses. */
  readonly any: Uint8Array;
  /** Proto3 JSON as the translator produced it (config_dump, golden files). */
  readonly json: object;
}

export function contentHash(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('base64url').slice(0, 16);
}

function encodeAny(typeUrl: string, value: Uint8Array): Uint8Array {
  return protobuf.Writer.create().uint32(0x0a).string(typeUrl).uint32(0x12).bytes(value).finish();
}

/** The name of a resource in proto3 JSON: `name`, or `cluster_name` for a ClusterLoadAssignment. */
export function resourceName(json: object): string {
  const named = json as { name?: unknown; cluster_name?: unknown };
  return String(named.name ?? named.cluster_name ?? '');
}

export function encodeResource(api: EnvoyApi, typeUrl: string, json: object): EncodedResource {
  const value = encodeJson(api, messageNameOf(typeUrl), json);
  const name = resourceName(json);
  return { name, typeUrl, version: contentHash(value), value, any: encodeAny(typeUrl, value), json };
}

/** A hash over (name, version) pairs: the SotW `version_info` of a resource set. */
export function setVersion(resources: Iterable<Pick<EncodedResource, 'name' | 'version'>>): string {
  const hash = createHash('sha256');
  const sorted = [...resources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const r of sorted) hash.update(r.name).update('\0').update(r.version).update('\n');
  return hash.digest('base64url').slice(0, 16);
}

// Field numbers from envoy/service/discovery/v3/discovery.proto, checked against the
// descriptors by the xds-protos tests.
const LEN = 2;
const tag = (field: number) => (field << 3) | LEN;
export const DISCOVERY_RESPONSE_FIELDS = { version_info: 1, resources: 2, type_url: 4, nonce: 5, control_plane: 6 } as const;
export const DELTA_RESPONSE_FIELDS = { system_version_info: 1, resources: 2, type_url: 4, nonce: 5, removed_resources: 6 } as const;
export const RESOURCE_FIELDS = { version: 1, resource: 2, name: 3 } as const;

export interface SotwResponse {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: readonly EncodedResource[];
}

export function encodeSotwResponse(response: SotwResponse): Buffer {
  const w = protobuf.Writer.create();
  w.uint32(tag(DISCOVERY_RESPONSE_FIELDS.version_info)).string(response.versionInfo);
  for (const r of response.resources) w.uint32(tag(DISCOVERY_RESPONSE_FIELDS.resources)).bytes(r.any);
  w.uint32(tag(DISCOVERY_RESPONSE_FIELDS.type_url)).string(response.typeUrl);
  w.uint32(tag(DISCOVERY_RESPONSE_FIELDS.nonce)).string(response.nonce);
  return Buffer.from(w.finish());
}

export interface DeltaResponse {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: readonly EncodedResource[];
  removed: readonly string[];
}

export function encodeDeltaResponse(response: DeltaResponse): Buffer {
  const w = protobuf.Writer.create();
  w.uint32(tag(DELTA_RESPONSE_FIELDS.system_version_info)).string(response.systemVersionInfo);
  for (const r of response.resources) {
    w.uint32(tag(DELTA_RESPONSE_FIELDS.resources)).fork();
    w.uint32(tag(RESOURCE_FIELDS.version)).string(r.version);
    w.uint32(tag(RESOURCE_FIELDS.resource)).bytes(r.any);
    w.uint32(tag(RESOURCE_FIELDS.name)).string(r.name);
    w.ldelim();
  }
  w.uint32(tag(DELTA_RESPONSE_FIELDS.type_url)).string(response.typeUrl);
  w.uint32(tag(DELTA_RESPONSE_FIELDS.nonce)).string(response.nonce);
  for (const name of response.removed) w.uint32(tag(DELTA_RESPONSE_FIELDS.removed_resources)).string(name);
  return Buffer.from(w.finish());
}

/** The xDS `Node` fields we read, in proto3 JSON with proto names. */
export interface NodeJson {
  id?: string;
  cluster?: string;
  metadata?: Record<string, unknown>;
  locality?: { region?: string; zone?: string; sub_zone?: string };
  user_agent_name?: string;
  user_agent_version?: string;
  user_agent_build_version?: {
    version?: { major_number?: number; minor_number?: number; patch?: number };
    metadata?: Record<string, unknown>;
  };
  extensions?: { name?: string; category?: string; type_urls?: string[] }[];
  client_features?: string[];
}

export interface DiscoveryRequestJson {
  version_info?: string;
  node?: NodeJson;
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string };
}

export interface DeltaDiscoveryRequestJson {
  node?: NodeJson;
  type_url?: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string };
}

const runtimeApi = () => loadEnvoyApi();

export function decodeDiscoveryRequest(bytes: Uint8Array, api: EnvoyApi = runtimeApi()): DiscoveryRequestJson {
  return decodeToJson(api, 'envoy.service.discovery.v3.DiscoveryRequest', bytes) as DiscoveryRequestJson;
}

export function decodeDeltaDiscoveryRequest(bytes: Uint8Array, api: EnvoyApi = runtimeApi()): DeltaDiscoveryRequestJson {
  return decodeToJson(api, 'envoy.service.discovery.v3.DeltaDiscoveryRequest', bytes) as DeltaDiscoveryRequestJson;
}

export function encodeDiscoveryRequest(request: DiscoveryRequestJson, api: EnvoyApi = runtimeApi()): Buffer {
  return Buffer.from(encodeJson(api, 'envoy.service.discovery.v3.DiscoveryRequest', request));
}

export function encodeDeltaDiscoveryRequest(request: DeltaDiscoveryRequestJson, api: EnvoyApi = runtimeApi()): Buffer {
  return Buffer.from(encodeJson(api, 'envoy.service.discovery.v3.DeltaDiscoveryRequest', request));
}

export interface DecodedResponse {
  version_info?: string;
  system_version_info?: string;
  type_url?: string;
  nonce?: string;
  resources?: Record<string, unknown>[];
  removed_resources?: string[];
}

/** Test and load-generator side: decode a SotW response to JSON. */
export function decodeDiscoveryResponse(bytes: Uint8Array, api: EnvoyApi = runtimeApi()): DecodedResponse {
  return decodeToJson(api, 'envoy.service.discovery.v3.DiscoveryResponse', bytes) as DecodedResponse;
}

export function decodeDeltaDiscoveryResponse(bytes: Uint8Array, api: EnvoyApi = runtimeApi()): DecodedResponse {
  return decodeToJson(api, 'envoy.service.discovery.v3.DeltaDiscoveryResponse', bytes) as DecodedResponse;
}
