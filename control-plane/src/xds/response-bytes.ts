/**
 * Encodes a stream's DiscoveryResponse / DeltaDiscoveryResponse in one pass into one
 * Buffer: the bytes of xds-protos' `encodeSotwResponse` / `encodeDeltaResponse` (a test
 * compares them), without their intermediate copies, preceded by the 5-byte gRPC
 * message header (compressed flag 0, big-endian length) that grpc-js would otherwise
 * add by copying the whole message into a new Buffer.
 *
 * Why: a response is a few hundred KB (1,000 ClusterLoadAssignments), built once per
 * stream. The protobufjs writer builds it in a buffer of its own and `Buffer.from` copies
 * that again; grpc-js then copies it a third time into its framed message. Two of those
 * three are garbage at once, but V8 frees a Buffer's memory only when a GC finds it
 * dead, so during a sync of 1,000 streams they piled up by the hundreds of MB and set
 * the process's resident size (docs/performance.md, "Memory per stream"). Encoding
 * straight into the final, already framed buffer leaves one copy, ours, which grpc-js
 * sends as is (grpc-pre-framed.ts).
 *
 * What callers get is the message alone (a view that starts after the header), so an
 * in-memory transport or a test decodes it as any message; only `framedResponse`, which
 * grpc-pre-framed.ts calls in grpc-js's serializer, hands out the header with it. A
 * view that did not come from here (a copy, a slice) has no framed form, and grpc-js
 * frames it itself as before.
 */
import { DELTA_RESPONSE_FIELDS, DISCOVERY_RESPONSE_FIELDS, type EncodedResource, RESOURCE_FIELDS } from '@meshcp/xds-protos';

const LEN = 2;

/** gRPC's message header: 1 byte compressed flag, 4 bytes big-endian message length. */
export const GRPC_MESSAGE_HEADER_BYTES = 5;

/** Message view → the same memory with its gRPC header in front. Weak: a response sent and dropped is forgotten. */
const framedOfMessage = new WeakMap<Uint8Array, Buffer>();

/**
 * The gRPC-framed bytes (header + message, one Buffer over the same memory) of a response
 * this module encoded, or undefined for any other bytes.
 */
export function framedResponse(message: Uint8Array): Buffer | undefined {
  return framedOfMessage.get(message);
}

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

/**
 * A Buffer for a message of `size` bytes with its gRPC header written, and an `Out`
 * positioned after the header.
 */
function framedOut(size: number): Out {
  const framed = Buffer.allocUnsafe(GRPC_MESSAGE_HEADER_BYTES + size);
  framed[0] = 0; // not compressed
  framed.writeUInt32BE(size, 1);
  const out = new Out(framed);
  out.pos = GRPC_MESSAGE_HEADER_BYTES;
  return out;
}

/** The message (without header) of a finished `framedOut`, registered as pre-framed. */
function finish(out: Out, size: number, what: string): Buffer {
  const end = GRPC_MESSAGE_HEADER_BYTES + size;
  if (out.pos !== end) throw new Error(`${what} encoding wrote ${out.pos - GRPC_MESSAGE_HEADER_BYTES} of ${size} bytes`);
  const message = out.buffer.subarray(GRPC_MESSAGE_HEADER_BYTES, end);
  framedOfMessage.set(message, out.buffer);
  return message;
}

export interface SotwResponseParts {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: Iterable<EncodedResource>;
}

/** The bytes of `encodeSotwResponse(parts)`, in one allocation that also holds their gRPC header (`framedResponse`). */
export function sotwResponseBytes(parts: SotwResponseParts): Buffer {
  const resources = [...parts.resources];
  const version = Buffer.byteLength(parts.versionInfo);
  const typeUrl = Buffer.byteLength(parts.typeUrl);
  const nonce = Buffer.byteLength(parts.nonce);
  let size = fieldSize(DISCOVERY_RESPONSE_FIELDS.version_info, version);
  for (const r of resources) size += fieldSize(DISCOVERY_RESPONSE_FIELDS.resources, r.any.length);
  size += fieldSize(DISCOVERY_RESPONSE_FIELDS.type_url, typeUrl) + fieldSize(DISCOVERY_RESPONSE_FIELDS.nonce, nonce);
  const out = framedOut(size);
  out.string(DISCOVERY_RESPONSE_FIELDS.version_info, parts.versionInfo, version);
  for (const r of resources) out.bytes(DISCOVERY_RESPONSE_FIELDS.resources, r.any);
  out.string(DISCOVERY_RESPONSE_FIELDS.type_url, parts.typeUrl, typeUrl);
  out.string(DISCOVERY_RESPONSE_FIELDS.nonce, parts.nonce, nonce);
  return finish(out, size, 'DiscoveryResponse');
}

export interface DeltaResponseParts {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: Iterable<EncodedResource>;
  removed: readonly string[];
}

/**
 * The bytes of one Delta `Resource` entry around its Any — the field header, the version
 * and the Any's header before it, the name after it — encoded once per resource object
 * and shared by every stream: the cache's resources are immutable, and encoding names
 * and versions per stream was the larger part of assembling a 1,000-resource response.
 */
interface DeltaEnvelope {
  head: Uint8Array;
  tail: Uint8Array;
  /** The whole entry's size in the response: head + Any + tail. */
  size: number;
}

const deltaEnvelopes = new WeakMap<EncodedResource, DeltaEnvelope>();

function deltaEnvelope(r: EncodedResource): DeltaEnvelope {
  const known = deltaEnvelopes.get(r);
  if (known) return known;
  const version = Buffer.byteLength(r.version);
  const name = Buffer.byteLength(r.name);
  const inner = fieldSize(RESOURCE_FIELDS.version, version) + fieldSize(RESOURCE_FIELDS.resource, r.any.length) + fieldSize(RESOURCE_FIELDS.name, name);
  const size = fieldSize(DELTA_RESPONSE_FIELDS.resources, inner);
  const out = new Out(Buffer.allocUnsafeSlow(size - r.any.length));
  out.header(DELTA_RESPONSE_FIELDS.resources, inner);
  out.string(RESOURCE_FIELDS.version, r.version, version);
  out.header(RESOURCE_FIELDS.resource, r.any.length);
  const headEnd = out.pos;
  out.string(RESOURCE_FIELDS.name, r.name, name);
  const envelope = { head: out.buffer.subarray(0, headEnd), tail: out.buffer.subarray(headEnd), size };
  deltaEnvelopes.set(r, envelope);
  return envelope;
}

/** The bytes of `encodeDeltaResponse(parts)`, in one allocation that also holds their gRPC header (`framedResponse`). */
export function deltaResponseBytes(parts: DeltaResponseParts): Buffer {
  const resources = [...parts.resources];
  const envelopes = resources.map(deltaEnvelope);
  const removed = parts.removed.map((name) => ({ name, length: Buffer.byteLength(name) }));
  const systemVersion = Buffer.byteLength(parts.systemVersionInfo);
  const typeUrl = Buffer.byteLength(parts.typeUrl);
  const nonce = Buffer.byteLength(parts.nonce);
  let size = fieldSize(DELTA_RESPONSE_FIELDS.system_version_info, systemVersion);
  for (const envelope of envelopes) size += envelope.size;
  size += fieldSize(DELTA_RESPONSE_FIELDS.type_url, typeUrl) + fieldSize(DELTA_RESPONSE_FIELDS.nonce, nonce);
  for (const { length } of removed) size += fieldSize(DELTA_RESPONSE_FIELDS.removed_resources, length);
  const out = framedOut(size);
  out.string(DELTA_RESPONSE_FIELDS.system_version_info, parts.systemVersionInfo, systemVersion);
  const buffer = out.buffer;
  let pos = out.pos;
  for (let i = 0; i < resources.length; i++) {
    const { head, tail } = envelopes[i] as DeltaEnvelope;
    const any = (resources[i] as EncodedResource).any;
    buffer.set(head, pos);
    pos += head.length;
    buffer.set(any, pos);
    pos += any.length;
    buffer.set(tail, pos);
    pos += tail.length;
  }
  out.pos = pos;
  out.string(DELTA_RESPONSE_FIELDS.type_url, parts.typeUrl, typeUrl);
  out.string(DELTA_RESPONSE_FIELDS.nonce, parts.nonce, nonce);
  for (const { name, length } of removed) out.string(DELTA_RESPONSE_FIELDS.removed_resources, name, length);
  return finish(out, size, 'DeltaDiscoveryResponse');
}
