/**
 * Lets grpc-js send an xDS response without copying it.
 *
 * grpc-js (1.14) turns every response into its wire form in
 * `BaseServerInterceptingCall.prototype.serializeMessage`: it serializes the value
 * (identity for meshcp's raw methods, raw-method.ts), allocates `length + 5` bytes,
 * writes the 5-byte gRPC message header and copies the whole message after it. An xDS
 * response is a few hundred KB, built once per stream, so that copy doubled the Buffers
 * of an initial sync (RSS per synced stream, docs/performance.md "Memory per stream")
 * and was a visible share of the CPU (Buffer copies ≈ 7 % of a Delta sync profile).
 *
 * response-bytes.ts encodes each response with its header already in front and
 * remembers it (a WeakMap keyed by the exact message view it returns: a marker we set,
 * never a guess from the bytes). This wrapper returns that framed Buffer as is when
 * grpc-js serializes one of those messages; any other value goes through grpc-js's own
 * serializer unchanged.
 *
 * Reached through a grpc-js internal module (as grpc-read-buffers.ts reaches the
 * decoder): the shape is checked once — `sendMessage` still calls `this.serializeMessage`,
 * and the original still frames a message as flag 0 + big-endian length + message, the
 * header response-bytes.ts writes. If a grpc-js release reshapes either, nothing is
 * wrapped, `sendsPreFramed()` says so (a test checks it), and responses are framed by
 * grpc-js from the message bytes as before: same wire bytes, one copy more.
 */
import { createRequire } from 'node:module';
import { framedResponse } from './response-bytes.js';

interface ServerCallInternals {
  serializeMessage(value: unknown): Buffer;
  sendMessage(value: unknown, callback: () => void): void;
}

export interface ServerCallClass {
  prototype: ServerCallInternals;
}

let installed = false;

function serverCallClass(): ServerCallClass | undefined {
  try {
    const require = createRequire(import.meta.url);
    const module = require('@grpc/grpc-js/build/src/server-interceptors.js') as { BaseServerInterceptingCall?: ServerCallClass };
    return module.BaseServerInterceptingCall;
  } catch {
    return undefined;
  }
}

/** Whether `serializeMessage` frames a message the way response-bytes.ts pre-frames it. */
function framesAsExpected(serialize: (value: unknown) => Buffer): boolean {
  try {
    const message = Buffer.from([1, 2, 3]);
    // What `this` needs: the method's serializer (identity, as raw-method.ts's).
    const framed = serialize.call({ handler: { serialize: (value: unknown) => value } }, message);
    return Buffer.isBuffer(framed) && framed.equals(Buffer.from([0, 0, 0, 0, 3, 1, 2, 3]));
  } catch {
    return false;
  }
}

/**
 * Wraps `serializeMessage` of `callClass` (grpc-js's server call; a test passes others)
 * if it has the expected shape. Returns whether it is wrapped.
 */
export function installPreFramedSends(callClass: ServerCallClass | undefined): boolean {
  const proto = callClass?.prototype;
  if (!proto || typeof proto.serializeMessage !== 'function' || typeof proto.sendMessage !== 'function') return false;
  if ((proto.serializeMessage as { preFramed?: boolean }).preFramed) return true;
  if (!/\bthis\.serializeMessage\(/.test(Function.prototype.toString.call(proto.sendMessage))) return false;
  const serialize = proto.serializeMessage;
  if (!framesAsExpected(serialize)) return false;
  const preFramedSerialize = function serializeMessage(this: ServerCallInternals, value: unknown): Buffer {
    const framed = value instanceof Uint8Array ? framedResponse(value) : undefined;
    return framed ?? serialize.call(this, value);
  };
  proto.serializeMessage = Object.assign(preFramedSerialize, { preFramed: true });
  return true;
}

/** Installs the wrapper on grpc-js's server call once per process (idempotent). */
export function sendPreFramedResponses(): void {
  if (!installed) installed = installPreFramedSends(serverCallClass());
}

/** Whether grpc-js sends pre-framed responses as is (false when its server call no longer looks as expected). */
export function sendsPreFramed(): boolean {
  return installed;
}
