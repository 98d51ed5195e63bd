/**
 * Lets go of the socket read buffers grpc-js's message decoder keeps after a message.
 *
 * grpc-js (1.14) frames each incoming message from `Buffer.slice` views of the HTTP/2
 * DATA chunks, and node:http2 hands those chunks out as views of its socket read buffer
 * (up to 64 KiB, shared by every frame of that read). After a message is complete the
 * decoder still holds its compression-flag byte and the message's chunks as views until
 * the *next* message starts — for an idle xDS stream, forever. A view keeps its whole
 * read buffer alive, so every synced stream held the read buffers of its last ACK
 * (an EDS ACK that repeats 1,000 names is ~30 KB, and a read carries more than that).
 * Measured at 1,000 SotW streams: ~40 KB of ArrayBuffers per stream retained, and the
 * malloc heap kept the holes around them (docs/performance.md, "Memory per stream").
 *
 * The fix is a wrapper of `StreamDecoder.prototype.write` that drops those views once
 * the decoder is between messages (state NO_DATA: nothing in them is read again before
 * the next message replaces them). Messages already returned are copies
 * (`Buffer.concat`), so nothing the server holds changes. A partial message keeps its
 * views while it is being read, as before.
 *
 * Reached through a grpc-js internal module (as `http2StreamOf` in server.ts reaches
 * the HTTP/2 stream): if a grpc-js release reshapes the decoder, the wrapper does
 * nothing and `releasesReadBuffers()` says so (a test checks it).
 */
import { createRequire } from 'node:module';

interface DecoderInternals {
  readState: number;
  readCompressFlag: Buffer;
  readPartialMessage: Buffer[];
  write(data: Buffer): Buffer[];
}

/** grpc-js's ReadState.NO_DATA: between two messages. */
const NO_DATA = 0;
/** Stands for the compression flag between messages: never read before the next message sets its own. */
const IDLE_FLAG = Buffer.alloc(1);

let installed = false;

function decoderClass(): { prototype: DecoderInternals } | undefined {
  try {
    const require = createRequire(import.meta.url);
    const module = require('@grpc/grpc-js/build/src/stream-decoder.js') as { StreamDecoder?: { prototype: DecoderInternals } };
    return typeof module.StreamDecoder?.prototype.write === 'function' ? module.StreamDecoder : undefined;
  } catch {
    return undefined;
  }
}

/** Installs the wrapper once per process (idempotent). */
export function releaseGrpcReadBuffers(): void {
  if (installed) return;
  const decoder = decoderClass();
  if (!decoder) return;
  const write = decoder.prototype.write;
  // The shape this relies on: a fresh decoder has these fields (checked once, on a throwaway instance).
  const probe = new (decoder as unknown as new (max: number) => DecoderInternals)(-1);
  if (probe.readState !== NO_DATA || !Buffer.isBuffer(probe.readCompressFlag) || !Array.isArray(probe.readPartialMessage)) return;
  decoder.prototype.write = function releasingWrite(this: DecoderInternals, data: Buffer): Buffer[] {
    const messages = write.call(this, data);
    if (this.readState === NO_DATA) {
      this.readCompressFlag = IDLE_FLAG;
      this.readPartialMessage = [];
    }
    return messages;
  };
  installed = true;
}

/** Whether the wrapper is in place (false when grpc-js's decoder no longer looks as expected). */
export function releasesReadBuffers(): boolean {
  return installed;
}
