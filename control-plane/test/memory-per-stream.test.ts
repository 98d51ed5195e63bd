/**
 * Memory per stream. grpc-js's message decoder must not keep views of the socket read buffers once a
 * message is complete (grpc-read-buffers.ts): an idle xDS stream held its last ACK's
 * read buffers for as long as it stayed connected. Checked on grpc-js's own decoder.
 * And the glibc malloc setting a serving process re-executes itself with (malloc-tunables.ts),
 * and the one-allocation response encoder (response-bytes.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENDPOINT, type EncodedResource, encodeDeltaResponse, encodeSotwResponse } from '@meshcp/xds-protos';
import { describe, expect, it } from 'vitest';
import { Metrics, SnapshotCache, XdsServer } from '../src/index.js';
import { releaseGrpcReadBuffers, releasesReadBuffers } from '../src/xds/grpc-read-buffers.js';
import { withMmapThreshold } from '../src/xds/malloc-tunables.js';
import { deltaResponseBytes, framedResponse, sotwResponseBytes } from '../src/xds/response-bytes.js';

interface Decoder {
  readCompressFlag: Buffer;
  readPartialMessage: Buffer[];
  write(data: Buffer): Buffer[];
}
const { StreamDecoder } = createRequire(import.meta.url)('@grpc/grpc-js/build/src/stream-decoder.js') as {
  StreamDecoder: new (maxReadMessageLength: number) => Decoder;
};

/** A gRPC-framed message: flag 0, 4-byte big-endian length, payload. */
function framed(payload: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/** Whether anything the decoder still holds is a view of `buffer`'s memory. */
function holdsViewOf(decoder: Decoder, buffer: Buffer): boolean {
  return [decoder.readCompressFlag, ...decoder.readPartialMessage].some((view) => view.buffer === buffer.buffer);
}

describe('grpc-js read buffers', () => {
  it('an XdsServer installs the release on the grpc-js it runs with', () => {
    const metrics = new Metrics();
    new XdsServer(new SnapshotCache(metrics), metrics);
    // False means grpc-js changed its decoder's shape: the memory fix silently stopped working.
    expect(releasesReadBuffers()).toBe(true);
  });

  it('a complete message leaves no view of the 64 KiB read buffer it arrived in', () => {
    releaseGrpcReadBuffers();
    const payload = Buffer.from('x'.repeat(30_000));
    // As node:http2 hands it over: a DATA chunk that is a slice of a larger read buffer.
    const readBuffer = Buffer.alloc(64 * 1024);
    const message = framed(payload);
    message.copy(readBuffer, 100);
    const chunk = readBuffer.subarray(100, 100 + message.length);
    const decoder = new StreamDecoder(-1);
    const [decoded, ...rest] = decoder.write(chunk);
    expect(rest).toEqual([]);
    expect(decoded?.subarray(5).equals(payload)).toBe(true);
    expect(holdsViewOf(decoder, readBuffer)).toBe(false);
  });

  it('a message split over three reads decodes as before; only the finished one is let go', () => {
    releaseGrpcReadBuffers();
    const payload = Buffer.from(Array.from({ length: 5000 }, (_, i) => `name-${i}`).join(','));
    const message = framed(payload);
    const reads = [message.subarray(0, 3), message.subarray(3, 2000), message.subarray(2000)].map((part) => Buffer.from(part));
    const decoder = new StreamDecoder(-1);
    expect(decoder.write(reads[0] as Buffer)).toEqual([]);
    expect(decoder.write(reads[1] as Buffer)).toEqual([]);
    // Mid-message the decoder must keep what it has read so far.
    expect(holdsViewOf(decoder, reads[1] as Buffer)).toBe(true);
    const [decoded] = decoder.write(reads[2] as Buffer);
    expect(decoded?.equals(message)).toBe(true);
    for (const read of reads) expect(holdsViewOf(decoder, read)).toBe(false);
  });

  it('two messages in one read, then an empty message: every one decodes', () => {
    releaseGrpcReadBuffers();
    const a = framed(Buffer.from('first'));
    const b = framed(Buffer.from('second, longer'));
    const decoder = new StreamDecoder(-1);
    const both = Buffer.concat([a, b]);
    expect(decoder.write(both).map((m) => m.toString('latin1'))).toEqual([a.toString('latin1'), b.toString('latin1')]);
    expect(holdsViewOf(decoder, both)).toBe(false);
    const empty = framed(Buffer.alloc(0));
    expect(decoder.write(empty).map((m) => m.equals(empty))).toEqual([true]);
  });
});

describe('malloc tunables (malloc-tunables.ts)', () => {
  it("adds the mmap threshold to GLIBC_TUNABLES and keeps an operator's own", () => {
    expect(withMmapThreshold(undefined)).toBe('glibc.malloc.mmap_threshold=65536');
    expect(withMmapThreshold('glibc.malloc.arena_max=2')).toBe('glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=65536');
    expect(withMmapThreshold('glibc.malloc.mmap_threshold=1048576')).toBe('glibc.malloc.mmap_threshold=1048576');
  });

  it('a process that starts without it re-executes itself once with it, keeping its pid, flags and arguments', () => {
    const module = new URL('../dist/xds/malloc-tunables.js', import.meta.url).href;
    const script = `import { reexecWithMmapThreshold } from ${JSON.stringify(module)};
      const before = process.pid; reexecWithMmapThreshold();
      console.log(JSON.stringify({ pid: before, tunables: process.env.GLIBC_TUNABLES, args: process.argv.slice(2), flags: process.execArgv }));`;
    const file = join(mkdtempSync(join(tmpdir(), 'meshcp-malloc-')), 'reexec.mjs');
    writeFileSync(file, script);
    const { GLIBC_TUNABLES: _unset, ...env } = process.env;
    const run = (extra: Record<string, string>) =>
      spawnSync(process.execPath, ['--max-old-space-size=300', file, 'a', 'b'], { env: { ...env, ...extra }, encoding: 'utf8' });
    const result = run({});
    expect(result.status, result.stderr).toBe(0);
    const lines = result.stdout.trim().split('\n');
    // One line: the first image never got to print, the re-executed one did — under the same pid.
    expect(lines).toHaveLength(1);
    const seen = JSON.parse(lines[0] as string) as { pid: number; tunables: string; args: string[]; flags: string[] };
    expect(seen.tunables).toBe('glibc.malloc.mmap_threshold=65536');
    expect(seen.args).toEqual(['a', 'b']);
    expect(seen.flags).toContain('--max-old-space-size=300');
    expect(seen.pid).toBe(result.pid);
    const off = JSON.parse(run({ MESHCP_MALLOC_TUNABLES: 'off' }).stdout) as { tunables?: string };
    expect(off.tunables).toBeUndefined();
  });
});

describe('response bytes (response-bytes.ts)', () => {
  const resource = (i: number, size: number): EncodedResource => {
    const name = i % 3 === 0 ? `shop/svc-${i}|8080` : `ünïcödé-${i}-€`;
    const value = Buffer.alloc(size, i & 0xff);
    return { name, typeUrl: ENDPOINT, version: `v${i}-${'x'.repeat(i % 5)}`, value, any: Buffer.concat([Buffer.from([0x0a, 3, 0x61, 0x62, 0x63]), value]) };
  };
  // Sizes around the varint boundaries (127/128, 16,383/16,384 bytes) and an empty one.
  const sizes = [0, 1, 122, 123, 127, 128, 200, 16_379, 16_384, 70_000];
  const resources = sizes.map((size, i) => resource(i, size));

  it('a SotW response is byte for byte what xds-protos encodes', () => {
    for (const list of [[], resources, resources.slice(3, 4)]) {
      for (const versionInfo of ['', 'abc', 'é'.repeat(200)]) {
        const parts = { versionInfo, typeUrl: ENDPOINT, nonce: '17-3', resources: list };
        const bytes = sotwResponseBytes(parts);
        expect(bytes.equals(encodeSotwResponse(parts))).toBe(true);
        // The gRPC header sits in the same allocation, right before the message (grpc-pre-framed.ts sends it).
        expect(framedResponse(bytes)?.equals(framed(bytes))).toBe(true);
        expect(framedResponse(bytes)?.buffer).toBe(bytes.buffer);
      }
    }
  });

  it('a Delta response is byte for byte what xds-protos encodes, removals included', () => {
    for (const list of [[], resources, resources.slice(7)]) {
      for (const removed of [[], ['gone'], Array.from({ length: 300 }, (_, i) => `removed-ü-${i}`)]) {
        const parts = { systemVersionInfo: 'sys-v', typeUrl: ENDPOINT, nonce: '', resources: list, removed };
        const bytes = deltaResponseBytes(parts);
        expect(bytes.equals(encodeDeltaResponse(parts))).toBe(true);
        expect(framedResponse(bytes)?.equals(framed(bytes))).toBe(true);
        // Only the exact view handed out is pre-framed: a copy is framed by grpc-js.
        expect(framedResponse(Buffer.from(bytes))).toBeUndefined();
      }
    }
  });
});
