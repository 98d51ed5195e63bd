/**
 * Encodes a stream's DiscoveryResponse / DeltaDiscoveryResponse into one Buffer of
 * exactly its size, in one pass: the bytes of xds-protos' `encodeSotwResponse` /
 * `encodeDeltaResponse` (a test compares them), without their intermediate copies.
 *
 * Why: a response is a few hundred KB (1,000 ClusterLoadAssignments), built once per
 * stream. The protobufjs writer builds it in a buffer of its own and `Buffer.from` copies
 * that again; grpc-js then copies it a third time into its framed message. Two of those
 * three are garbage at once, but V8 frees a Buffer's memory only when a GC finds it
 * dead, so during a sync of 1,000 streams they piled up by the hundreds of MB and set
 * the process's resident size (docs/performance.md, "Memory per stream"). Encoding
 * straight into the final buffer leaves one copy ours and one grpc-js's.
 */
import { DELTA_RESPONSE_FIELDS, DISCOVERY_RESPONSE_FIELDS, type EncodedResource, RESOURCE_FIELDS } from '@meshcp/xds-protos';

const LEN = 2;

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** A length-delimited field of `length` bytes: tag, length, payload. */
const fieldSize = (field: number, length: number) => varintSize((field << 3) | LEN) + varintSize(length) + length;

class Out {
  pos = 0;
  constructor(readonly buffer: Buffer) {}

  varint(value: number): void {
    while (value >= 0x80) {
      this.buffer[this.pos++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    this.buffer[this.pos++] = value;
  }

  header(field: number, length: number): void {
    this.varint((field << 3) | LEN);
    this.varint(length);
  }

  bytes(field: number, bytes: Uint8Array): void {
    this.header(field, bytes.length);
    this.buffer.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  string(field: number, text: string, length: number): void {
    this.header(field, length);
    this.pos += this.buffer.write(text, this.pos, length, 'utf8');
  }
}

export interface SotwResponseParts {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: Iterable<EncodedResource>;
}

/** The bytes of `encodeSotwResponse(parts)`, in one allocation. */
export function sotwResponseBytes(parts: SotwResponseParts): Buffer {
  const resources = [...parts.resources];
  const version = Buffer.byteLength(parts.versionInfo);
  const typeUrl = Buffer.byteLength(parts.typeUrl);
  const nonce = Buffer.byteLength(parts.nonce);
  let size = fieldSize(DISCOVERY_RESPONSE_FIELDS.version_info, version);
  for (const r of resources) size += fieldSize(DISCOVERY_RESPONSE_FIELDS.resources, r.any.length);
  size += fieldSize(DISCOVERY_RESPONSE_FIELDS.type_url, typeUrl) + fieldSize(DISCOVERY_RESPONSE_FIELDS.nonce, nonce);
  const out = new Out(Buffer.allocUnsafe(size));
  out.string(DISCOVERY_RESPONSE_FIELDS.version_info, parts.versionInfo, version);
  for (const r of resources) out.bytes(DISCOVERY_RESPONSE_FIELDS.resources, r.any);
  out.string(DISCOVERY_RESPONSE_FIELDS.type_url, parts.typeUrl, typeUrl);
  out.string(DISCOVERY_RESPONSE_FIELDS.nonce, parts.nonce, nonce);
  if (out.pos !== size) throw new Error(`DiscoveryResponse encoding wrote ${out.pos} of ${size} bytes`);
  return out.buffer;
}

export interface DeltaResponseParts {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: Iterable<EncodedResource>;
  removed: readonly string[];
}

/** The bytes of `encodeDeltaResponse(parts)`, in one allocation. */
export function deltaResponseBytes(parts: DeltaResponseParts): Buffer {
  const resources = [...parts.resources].map((r) => {
    const version = Buffer.byteLength(r.version);
    const name = Buffer.byteLength(r.name);
    const inner = fieldSize(RESOURCE_FIELDS.version, version) + fieldSize(RESOURCE_FIELDS.resource, r.any.length) + fieldSize(RESOURCE_FIELDS.name, name);
    return { r, version, name, inner };
  });
  const removed = parts.removed.map((name) => ({ name, length: Buffer.byteLength(name) }));
  const systemVersion = Buffer.byteLength(parts.systemVersionInfo);
  const typeUrl = Buffer.byteLength(parts.typeUrl);
  const nonce = Buffer.byteLength(parts.nonce);
  let size = fieldSize(DELTA_RESPONSE_FIELDS.system_version_info, systemVersion);
  for (const { inner } of resources) size += fieldSize(DELTA_RESPONSE_FIELDS.resources, inner);
  size += fieldSize(DELTA_RESPONSE_FIELDS.type_url, typeUrl) + fieldSize(DELTA_RESPONSE_FIELDS.nonce, nonce);
  for (const { length } of removed) size += fieldSize(DELTA_RESPONSE_FIELDS.removed_resources, length);
  const out = new Out(Buffer.allocUnsafe(size));
  out.string(DELTA_RESPONSE_FIELDS.system_version_info, parts.systemVersionInfo, systemVersion);
  for (const { r, version, name, inner } of resources) {
    out.header(DELTA_RESPONSE_FIELDS.resources, inner);
    out.string(RESOURCE_FIELDS.version, r.version, version);
    out.bytes(RESOURCE_FIELDS.resource, r.any);
    out.string(RESOURCE_FIELDS.name, r.name, name);
  }
  out.string(DELTA_RESPONSE_FIELDS.type_url, parts.typeUrl, typeUrl);
  out.string(DELTA_RESPONSE_FIELDS.nonce, parts.nonce, nonce);
  for (const { name, length } of removed) out.string(DELTA_RESPONSE_FIELDS.removed_resources, name, length);
  if (out.pos !== size) throw new Error(`DeltaDiscoveryResponse encoding wrote ${out.pos} of ${size} bytes`);
  return out.buffer;
}
