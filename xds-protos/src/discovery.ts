/**
 * Wire framing of xDS discovery messages. Requests are decoded with protobufjs;
 * responses are assembled by hand from bytes each resource was encoded to once,
 * so a push to N streams costs N byte copies, not N serialisations
 * (go-control-plane #238 shows what per-stream marshalling costs).
 */
import { createHash, hash } from 'node:crypto';
import protobuf from 'protobufjs';
import { type EnvoyApi, loadEnvoyApi } from './descriptors.js';
import { decodeToJson, encodeJson } from './json-codec.js';
import { type ValidationIssue, validateResource } from './pgv.js';
import { messageNameOf } from './type-urls.js';
import { encodeFast } from './wire-writer.js';

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
  // The one-shot hash: no Hash object per resource (a first snapshot hashes tens of thousands).
  return hash('sha256', bytes, 'base64url').slice(0, 16);
}

/** Varint bytes of a length. */
function varint(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  while (v > 127) {
    out.push((v & 127) | 128);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

// The bytes before the value in an Any of each type URL: field 1 (type_url) and field 2's tag.
const anyPrefixes = new Map<string, Buffer>();

/** An Any: the same bytes protobufjs's Writer gives for (type_url, value), in one copy. */
function encodeAny(typeUrl: string, value: Uint8Array): Buffer {
  let prefix = anyPrefixes.get(typeUrl);
  if (!prefix) {
    const url = Buffer.from(typeUrl, 'utf8');
    prefix = Buffer.concat([Buffer.from([0x0a, ...varint(url.length)]), url, Buffer.from([0x12])]);
    anyPrefixes.set(typeUrl, prefix);
  }
  const length = varint(value.length);
  const out = Buffer.allocUnsafe(prefix.length + length.length + value.length);
  prefix.copy(out, 0);
  for (let i = 0; i < length.length; i++) out[prefix.length + i] = length[i] as number;
  out.set(value, prefix.length + length.length);
  return out;
}

/** The name of a resource in proto3 JSON: `name`, or `cluster_name` for a ClusterLoadAssignment. */
export function resourceName(json: object): string {
  const named = json as { name?: unknown; cluster_name?: unknown };
  return String(named.name ?? named.cluster_name ?? '');
}

export function encodeResource(api: EnvoyApi, typeUrl: string, json: object): EncodedResource {
  return encodedFrom(typeUrl, json, encodeJson(api, messageNameOf(typeUrl), json));
}

function encodedFrom(typeUrl: string, json: object, encoded: Uint8Array): EncodedResource {
  const any = encodeAny(typeUrl, encoded);
  // The value is the tail of its Any, as in a worker's mirror: one buffer a resource, not two.
  const value = any.subarray(any.length - encoded.length);
  return { name: resourceName(json), typeUrl, version: contentHash(value), value, any, json };
}

/**
 * PGV-checks and encodes one resource: the PGV issues, or the encoded resource. The
 * compiled writer does both in one pass; on any issue or shape it does not plan, the
 * checker gives the issues with their paths and the generic encoder the bytes. Encoding
 * errors (FieldPathError) are thrown as by `encodeResource`.
 */
export function checkAndEncodeResource(api: EnvoyApi, typeUrl: string, json: object): EncodedResource | ValidationIssue[] {
  const messageName = messageNameOf(typeUrl);
  const bytes = encodeFast(api, api.lookupType(messageName), json, true);
  if (bytes) return encodedFrom(typeUrl, json, bytes);
  const issues = validateResource(api, messageName, json);
  return issues.length > 0 ? issues : encodeResource(api, typeUrl, json);
}

/** A hash over (name, version) pairs: the SotW `version_info` of a resource set. */
export function setVersion(resources: Iterable<Pick<EncodedResource, 'name' | 'version'>>): string {
  const hash = createHash('sha256');
  const sorted = [...resources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const r of sorted) hash.update(r.name).update('\0').update(r.version).update('\n');
  return hash.digest('base64url').slice(0, 16);
}

/**
 * An order-independent digest of a set of (name, version) pairs that is updated in
 * O(1) per change: the `version_info` of SotW EDS/RDS responses and Delta's
 * `system_version_info`, which would otherwise re-hash every subscribed resource on
 * every send. Equal sets give equal digests, across restarts and replicas.
 */
export class SetDigest {
  private low = 0;
  private high = 0;
  private count = 0;

  private static hash(text: string, seed: number): number {
    let h = seed;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
    return h >>> 0;
  }

  private toggle(name: string, version: string): void {
    const key = `${name}\0${version}`;
    this.low = (this.low ^ SetDigest.hash(key, 2166136261)) >>> 0;
    this.high = (this.high ^ SetDigest.hash(key, 3323198485)) >>> 0;
  }

  add(name: string, version: string): void {
    this.toggle(name, version);
    this.count++;
  }

  remove(name: string, version: string): void {
    this.toggle(name, version);
    this.count--;
  }

  /** Replaces a name's version (`previous` undefined: it is new). */
  set(name: string, version: string, previous: string | undefined): void {
    if (previous === version) return;
    if (previous !== undefined) this.remove(name, previous);
    this.add(name, version);
  }

  /** An independent digest of the same set (to derive another set's digest from it). */
  copy(): SetDigest {
    const copy = new SetDigest();
    copy.low = this.low;
    copy.high = this.high;
    copy.count = this.count;
    return copy;
  }

  toString(): string {
    return `${this.count}-${this.high.toString(36)}${this.low.toString(36)}`;
  }
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
  resources: Iterable<EncodedResource>;
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
  resources: Iterable<EncodedResource>;
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
  resource_names?: readonly string[];
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

export const DISCOVERY_REQUEST_FIELDS = { version_info: 1, node: 2, resource_names: 3, type_url: 4, response_nonce: 5, error_detail: 6 } as const;
export const DELTA_REQUEST_FIELDS = {
  node: 1,
  type_url: 2,
  resource_names_subscribe: 3,
  resource_names_unsubscribe: 4,
  initial_resource_versions: 5,
  response_nonce: 6,
  error_detail: 7,
} as const;

const WIRE_LEN = 2;

function expectLength(wireType: number, field: number): void {
  if (wireType !== WIRE_LEN) throw new Error(`field ${field} has wire type ${wireType}, expected length-delimited`);
}

/**
 * A length-delimited string whose length is checked against the message: protobufjs's
 * Buffer reader would cut one that runs past the end short, where a request that does
 * is malformed.
 */
function boundedString(reader: protobuf.Reader): string {
  const lengthAt = reader.pos;
  skipBounded(reader);
  const end = reader.pos;
  reader.pos = lengthAt;
  const text = reader.string();
  reader.pos = end;
  return text;
}

/** Skips a length-delimited value whose length is checked against the message. */
function skipBounded(reader: protobuf.Reader): void {
  const length = reader.uint32();
  if (reader.pos + length > reader.len) throw new RangeError(`a string runs past the end of the request (${reader.pos} + ${length} > ${reader.len})`);
  reader.pos += length;
}

/** google.rpc.Status{code=1, message=2}: all we read of a NACK's error_detail. */
function readStatus(reader: protobuf.Reader): { code?: number; message?: string } {
  const end = reader.uint32() + reader.pos;
  const status: { code?: number; message?: string } = {};
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === 0) status.code = reader.int32();
    else if (tag >>> 3 === 2 && (tag & 7) === WIRE_LEN) status.message = boundedString(reader);
    else reader.skipType(tag & 7);
  }
  return status;
}

function readNode(reader: protobuf.Reader, api: EnvoyApi): NodeJson {
  const bytes = reader.bytes();
  return decodeToJson(api, 'envoy.config.core.v3.Node', bytes) as NodeJson;
}

/** How a server decodes requests: the number of names checked before any is decoded. */
export interface RequestDecodeOptions {
  /** Called with the number of resource_names before one of them is decoded (a request with 200,000 is refused unread). */
  checkNameCount?: (count: number) => void;
}

/** The resource_names of a region of a DiscoveryRequest that holds only field 3 entries. */
function readNames(region: Uint8Array): string[] {
  const reader = protobuf.Reader.create(region);
  const names: string[] = [];
  while (reader.pos < reader.len) {
    reader.uint32(); // tag: field 3, length-delimited (checked by the caller's pass)
    names.push(reader.string());
  }
  return names;
}

/**
 * Decodes a DiscoveryRequest straight off the wire. Every ACK of every stream carries
 * the full name list, so this is on the hot path; the Node (first request only) is
 * the one part decoded through reflection. With `checkNameCount`, the names are counted
 * (and skipped) in the first pass and decoded only once the count passed.
 */
export function decodeDiscoveryRequest(bytes: Uint8Array, api: EnvoyApi = runtimeApi(), options: RequestDecodeOptions = {}): DiscoveryRequestJson {
  const reader = protobuf.Reader.create(bytes);
  const request: DiscoveryRequestJson = {};
  const { checkNameCount } = options;
  const deferNames = checkNameCount !== undefined;
  let names: string[] = [];
  let nameCount = 0;
  // The run of resource_names entries, while they are one run (-1: none yet; `split`: not one run).
  let runStart = -1;
  let runEnd = -1;
  let split = false;
  try {
    while (reader.pos < reader.len) {
      const tagStart = reader.pos;
      const tag = reader.uint32();
      const field = tag >>> 3;
      const wireType = tag & 7;
      switch (field) {
        case DISCOVERY_REQUEST_FIELDS.version_info:
          expectLength(wireType, field);
          request.version_info = boundedString(reader);
          break;
        case DISCOVERY_REQUEST_FIELDS.node:
          expectLength(wireType, field);
          request.node = readNode(reader, api);
          break;
        case DISCOVERY_REQUEST_FIELDS.resource_names:
          expectLength(wireType, field);
          if (runStart === -1) runStart = tagStart;
          else if (runEnd !== tagStart) split = true;
          if (deferNames) skipBounded(reader);
          else names.push(boundedString(reader));
          nameCount++;
          runEnd = reader.pos;
          break;
        case DISCOVERY_REQUEST_FIELDS.type_url:
          expectLength(wireType, field);
          request.type_url = boundedString(reader);
          break;
        case DISCOVERY_REQUEST_FIELDS.response_nonce:
          expectLength(wireType, field);
          request.response_nonce = boundedString(reader);
          break;
        case DISCOVERY_REQUEST_FIELDS.error_detail:
          expectLength(wireType, field);
          request.error_detail = readStatus(reader);
          break;
        default:
          reader.skipType(wireType);
      }
    }
  } catch (error) {
    // Too many names is what such a request is refused for, even when it is malformed further on: the limit comes first.
    checkNameCount?.(nameCount);
    throw error;
  }
  if (deferNames && runStart !== -1) {
    checkNameCount?.(nameCount);
    if (split) {
      // Not one run (no client we know writes this): decode every name, in order.
      const again = protobuf.Reader.create(bytes);
      while (again.pos < again.len) {
        const tag = again.uint32();
        if (tag >>> 3 === DISCOVERY_REQUEST_FIELDS.resource_names) names.push(again.string());
        else again.skipType(tag & 7);
      }
    } else names = readNames(bytes.subarray(runStart, runEnd));
  }
  if (names.length > 0) request.resource_names = names;
  return request;
}

export function decodeDeltaDiscoveryRequest(bytes: Uint8Array, api: EnvoyApi = runtimeApi()): DeltaDiscoveryRequestJson {
  const reader = protobuf.Reader.create(bytes);
  const request: DeltaDiscoveryRequestJson = {};
  const subscribe: string[] = [];
  const unsubscribe: string[] = [];
  const initial: Record<string, string> = {};
  let hasInitial = false;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    const wireType = tag & 7;
    switch (field) {
      case DELTA_REQUEST_FIELDS.node:
        expectLength(wireType, field);
        request.node = readNode(reader, api);
        break;
      case DELTA_REQUEST_FIELDS.type_url:
        expectLength(wireType, field);
        request.type_url = boundedString(reader);
        break;
      case DELTA_REQUEST_FIELDS.resource_names_subscribe:
        expectLength(wireType, field);
        subscribe.push(boundedString(reader));
        break;
      case DELTA_REQUEST_FIELDS.resource_names_unsubscribe:
        expectLength(wireType, field);
        unsubscribe.push(boundedString(reader));
        break;
      case DELTA_REQUEST_FIELDS.initial_resource_versions: {
        expectLength(wireType, field);
        const end = reader.uint32() + reader.pos;
        let key = '';
        let value = '';
        while (reader.pos < end) {
          const entryTag = reader.uint32();
          if (entryTag >>> 3 === 1 && (entryTag & 7) === WIRE_LEN) key = boundedString(reader);
          else if (entryTag >>> 3 === 2 && (entryTag & 7) === WIRE_LEN) value = boundedString(reader);
          else reader.skipType(entryTag & 7);
        }
        initial[key] = value;
        hasInitial = true;
        break;
      }
      case DELTA_REQUEST_FIELDS.response_nonce:
        expectLength(wireType, field);
        request.response_nonce = boundedString(reader);
        break;
      case DELTA_REQUEST_FIELDS.error_detail:
        expectLength(wireType, field);
        request.error_detail = readStatus(reader);
        break;
      default:
        reader.skipType(wireType);
    }
  }
  if (subscribe.length > 0) request.resource_names_subscribe = subscribe;
  if (unsubscribe.length > 0) request.resource_names_unsubscribe = unsubscribe;
  if (hasInitial) request.initial_resource_versions = initial;
  return request;
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
