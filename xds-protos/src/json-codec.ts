/**
 * Proto3 JSON (with proto field names, as Envoy's own YAML and config_dump use)
 * to and from the binary wire format, driven by the descriptors of one Envoy API
 * version. Encoding is strict: a field the API does not have is an error with its
 * path, never silently dropped — that is how we prove what each version accepts.
 */
import protobuf from 'protobufjs';
import type { EnvoyApi } from './descriptors.js';
import { messageNameOf } from './type-urls.js';
import { encodeFast } from './wire-writer.js';

export class FieldPathError extends Error {
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(`${path || '(root)'}: ${detail}`);
  }
}

type Json = unknown;
type JsonObject = Record<string, unknown>;

const WRAPPERS = new Set(['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes'].map((k) => `google.protobuf.${k}Value`));
/** Well-known types whose JSON form is not an object of their fields. */
const SCALAR_JSON_TYPES = new Set([
  ...WRAPPERS,
  'google.protobuf.Duration',
  'google.protobuf.Timestamp',
  'google.protobuf.Struct',
  'google.protobuf.Value',
  'google.protobuf.ListValue',
  'google.protobuf.FieldMask',
]);

// protobufjs computes fullName by walking parents on every access; translation reads it per field.
const fullNames = new WeakMap<protobuf.ReflectionObject, string>();
export function fullName(type: protobuf.ReflectionObject): string {
  let name = fullNames.get(type);
  if (name === undefined) {
    name = type.fullName.replace(/^\./, '');
    fullNames.set(type, name);
  }
  return name;
}

const camelNames = new Map<string, string>();
export function camelCase(snake: string): string {
  let camel = camelNames.get(snake);
  if (camel === undefined) {
    camel = snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    camelNames.set(snake, camel);
  }
  return camel;
}

/** Field lookup by proto name or by its lowerCamel JSON name. */
function fieldOf(type: protobuf.Type, key: string): protobuf.Field | undefined {
  const direct = type.fields[key];
  if (direct) return direct;
  let byJson = jsonNameIndex.get(type);
  if (!byJson) {
    byJson = new Map(type.fieldsArray.map((f) => [camelCase(f.name), f]));
    jsonNameIndex.set(type, byJson);
  }
  return byJson.get(key);
}
const jsonNameIndex = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();

function isObject(value: Json): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseDuration(text: Json, path: string): { seconds: number; nanos: number } {
  if (typeof text !== 'string' || !/^-?\d+(\.\d{1,9})?s$/.test(text)) {
    throw new FieldPathError(path, `expected a duration like "1.5s", got ${JSON.stringify(text)}`);
  }
  const negative = text.startsWith('-');
  const [whole = '0', fraction = ''] = text.replace(/^-/, '').slice(0, -1).split('.');
  const seconds = Number(whole);
  const nanos = Number(fraction.padEnd(9, '0'));
  return negative ? { seconds: -seconds, nanos: -nanos } : { seconds, nanos };
}

function formatDuration(seconds: number, nanos: number): string {
  if (!nanos) return `${seconds}s`;
  const negative = seconds < 0 || nanos < 0;
  const fraction = String(Math.abs(nanos)).padStart(9, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${Math.abs(seconds)}.${fraction}s`;
}

function structValueToObject(value: Json): JsonObject {
  if (value === null) return { null_value: 'NULL_VALUE' };
  if (typeof value === 'number') return { number_value: value };
  if (typeof value === 'string') return { string_value: value };
  if (typeof value === 'boolean') return { bool_value: value };
  if (Array.isArray(value)) return { list_value: { values: value.map(structValueToObject) } };
  if (isObject(value)) return { struct_value: structToObject(value) };
  throw new Error(`unsupported Struct value ${String(value)}`);
}

function structToObject(value: JsonObject): JsonObject {
  return { fields: Object.fromEntries(Object.entries(value).map(([k, v]) => [k, structValueToObject(v)])) };
}

/** Converts proto3 JSON into the plain-object form protobufjs `fromObject` takes. */
function toPbObject(api: EnvoyApi, type: protobuf.Type, json: Json, path: string): JsonObject {
  const name = fullName(type);
  if (name === 'google.protobuf.Any') return anyToPbObject(api, json, path);
  if (SCALAR_JSON_TYPES.has(name)) return wellKnownToPbObject(name, json, path);
  if (!isObject(json)) throw new FieldPathError(path, `expected an object for ${name}, got ${JSON.stringify(json)}`);
  const out: JsonObject = {};
  const oneofSeen = new Map<string, string>();
  for (const [key, value] of Object.entries(json)) {
    if (value === undefined) continue;
    const fieldPath = path ? `${path}.${key}` : key;
    const field = fieldOf(type, key);
    if (!field) throw new FieldPathError(fieldPath, `unknown field in ${name} (Envoy API ${api.minor})`);
    if (field.partOf) {
      const other = oneofSeen.get(field.partOf.name);
      if (other) throw new FieldPathError(fieldPath, `oneof ${field.partOf.name} already set by ${other}`);
      oneofSeen.set(field.partOf.name, key);
    }
    out[field.name] = convertField(api, field, value, fieldPath);
  }
  return out;
}

function convertField(api: EnvoyApi, field: protobuf.Field, value: Json, path: string): unknown {
  if (field.map) {
    if (!isObject(value)) throw new FieldPathError(path, 'expected a map object');
    const mapped: JsonObject = {};
    for (const [k, v] of Object.entries(value)) mapped[k] = convertSingle(api, field, v, `${path}.${k}`);
    return mapped;
  }
  if (field.repeated) {
    if (!Array.isArray(value)) throw new FieldPathError(path, 'expected a list');
    return value.map((v, i) => convertSingle(api, field, v, `${path}[${i}]`));
  }
  return convertSingle(api, field, value, path);
}

function convertSingle(api: EnvoyApi, field: protobuf.Field, value: Json, path: string): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return toPbObject(api, resolved, value, path);
  if (resolved instanceof protobuf.Enum) {
    if (typeof value === 'string' && !(value in resolved.values)) {
      throw new FieldPathError(path, `unknown ${resolved.name} value ${value} (Envoy API ${api.minor})`);
    }
    if (typeof value !== 'string' && typeof value !== 'number') throw new FieldPathError(path, 'expected an enum name');
    return value;
  }
  switch (field.type) {
    case 'string':
      if (typeof value !== 'string') throw new FieldPathError(path, `expected a string, got ${JSON.stringify(value)}`);
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw new FieldPathError(path, `expected a boolean, got ${JSON.stringify(value)}`);
      return value;
    case 'bytes':
      if (typeof value !== 'string' && !(value instanceof Uint8Array)) throw new FieldPathError(path, 'expected base64 bytes');
      return value;
    default: {
      const number = typeof value === 'string' ? Number(value) : value;
      if (typeof number !== 'number' || Number.isNaN(number)) {
        throw new FieldPathError(path, `expected a number, got ${JSON.stringify(value)}`);
      }
      return number;
    }
  }
}

function wellKnownToPbObject(name: string, json: Json, path: string): JsonObject {
  if (WRAPPERS.has(name)) return { value: typeof json === 'string' && !name.includes('String') && !name.includes('Bytes') ? Number(json) : json };
  switch (name) {
    case 'google.protobuf.Duration':
      return parseDuration(json, path);
    case 'google.protobuf.Timestamp': {
      const millis = typeof json === 'string' ? Date.parse(json) : Number.NaN;
      if (Number.isNaN(millis)) throw new FieldPathError(path, 'expected an RFC 3339 timestamp');
      return { seconds: Math.floor(millis / 1000), nanos: (millis % 1000) * 1e6 };
    }
    case 'google.protobuf.Struct':
      if (!isObject(json)) throw new FieldPathError(path, 'expected an object');
      return structToObject(json);
    case 'google.protobuf.Value':
      return structValueToObject(json);
    case 'google.protobuf.ListValue':
      if (!Array.isArray(json)) throw new FieldPathError(path, 'expected a list');
      return { values: json.map(structValueToObject) };
    case 'google.protobuf.FieldMask':
      return { paths: typeof json === 'string' ? json.split(',').filter(Boolean) : [] };
    default:
      throw new FieldPathError(path, `unhandled well-known type ${name}`);
  }
}

function anyToPbObject(api: EnvoyApi, json: Json, path: string): JsonObject {
  if (!isObject(json) || typeof json['@type'] !== 'string') {
    throw new FieldPathError(path, 'expected an Any with "@type"');
  }
  const typeUrl = json['@type'];
  let packed: protobuf.Type;
  try {
    packed = api.lookupType(messageNameOf(typeUrl));
  } catch {
    throw new FieldPathError(`${path}.@type`, `type ${typeUrl} does not exist in Envoy API ${api.minor}`);
  }
  const { '@type': _ignored, ...rest } = json;
  const body = SCALAR_JSON_TYPES.has(fullName(packed)) ? rest.value : rest;
  return { type_url: typeUrl, value: encodeMessage(api, packed, body, path) };
}

function encodeMessage(api: EnvoyApi, type: protobuf.Type, json: Json, path: string): Uint8Array {
  const object = toPbObject(api, type, json, path);
  return type.encode(type.fromObject(object)).finish();
}

/**
 * @internal The generic path (JSON → protobufjs objects → `encode`): the reference the
 * compiled writer (wire-writer.ts) must match byte for byte, and what it falls back to.
 */
export function encodeMessageGeneric(api: EnvoyApi, type: protobuf.Type, json: Json, path: string): Uint8Array {
  return encodeMessage(api, type, json, path);
}

/**
 * Encodes proto3 JSON as `messageName` (e.g. 'envoy.config.cluster.v3.Cluster'); throws FieldPathError.
 * The compiled writer does it when it can (or already did, in `validateResource` of this
 * same object just before); the generic path otherwise, and for every error.
 */
export function encodeJson(api: EnvoyApi, messageName: string, json: Json): Uint8Array {
  const type = api.lookupType(messageName);
  return encodeFast(api, type, json, false) ?? encodeMessage(api, type, json, '');
}

/** Decodes wire bytes to proto3 JSON with proto field names (Envoy's config_dump shape). */
export function decodeToJson(api: EnvoyApi, messageName: string, bytes: Uint8Array): JsonObject {
  const type = api.lookupType(messageName);
  return messageToJson(api, type, type.decode(bytes)) as JsonObject;
}

const TO_OBJECT: protobuf.IConversionOptions = { enums: String, longs: String, bytes: String, defaults: false };

function messageToJson(api: EnvoyApi, type: protobuf.Type, message: protobuf.Message | JsonObject): Json {
  const name = fullName(type);
  const plain = message instanceof protobuf.Message ? type.toObject(message, TO_OBJECT) : message;
  if (name === 'google.protobuf.Any') {
    const typeUrl = String(plain.type_url ?? '');
    let packed: protobuf.Type | undefined;
    try {
      packed = api.lookupType(messageNameOf(typeUrl));
    } catch {
      return { '@type': typeUrl, value: plain.value };
    }
    const raw = typeof plain.value === 'string' ? Buffer.from(plain.value, 'base64') : new Uint8Array();
    const inner = messageToJson(api, packed, packed.decode(raw));
    return SCALAR_JSON_TYPES.has(fullName(packed)) ? { '@type': typeUrl, value: inner } : { '@type': typeUrl, ...(inner as JsonObject) };
  }
  if (WRAPPERS.has(name)) return plain.value ?? (name.includes('Bool') ? false : name.includes('String') ? '' : 0);
  if (name === 'google.protobuf.Duration') return formatDuration(Number(plain.seconds ?? 0), Number(plain.nanos ?? 0));
  if (name === 'google.protobuf.Timestamp') {
    return new Date(Number(plain.seconds ?? 0) * 1000 + Number(plain.nanos ?? 0) / 1e6).toISOString();
  }
  if (name === 'google.protobuf.Struct') {
    const fields = (plain.fields ?? {}) as Record<string, JsonObject>;
    return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, structValueToJson(v)]));
  }
  if (name === 'google.protobuf.Value') return structValueToJson(plain);
  const out: JsonObject = {};
  for (const field of type.fieldsArray) {
    const value = plain[field.name];
    if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) {
      if (field.map) {
        out[field.name] = Object.fromEntries(Object.entries(value as JsonObject).map(([k, v]) => [k, messageToJson(api, resolved, v as JsonObject)]));
      } else if (field.repeated) {
        out[field.name] = (value as JsonObject[]).map((v) => messageToJson(api, resolved, v));
      } else {
        out[field.name] = messageToJson(api, resolved, value as JsonObject);
      }
    } else {
      out[field.name] = value;
    }
  }
  return out;
}

function structValueToJson(value: JsonObject): Json {
  if ('struct_value' in value) {
    const fields = ((value.struct_value as JsonObject).fields ?? {}) as Record<string, JsonObject>;
    return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, structValueToJson(v)]));
  }
  if ('list_value' in value) return (((value.list_value as JsonObject).values ?? []) as JsonObject[]).map(structValueToJson);
  if ('string_value' in value) return value.string_value;
  if ('number_value' in value) return value.number_value;
  if ('bool_value' in value) return value.bool_value;
  return null;
}
