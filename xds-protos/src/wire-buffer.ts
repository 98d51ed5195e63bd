/**
 * A protobuf wire writer for the compiled writer (wire-writer.ts): the same method
 * names and the same bytes as protobufjs's `Writer` for every value the compiled
 * writer passes it, into one reused, growing buffer instead of a list of operations
 * (which is most of the allocation and GC of encoding). A length-delimited field
 * reserves one byte for its length and moves its body when the length needs more.
 *
 * Strings: protobufjs writes a string shorter than 40 bytes with its own UTF-8 coder,
 * which keeps a lone surrogate as three bytes of its own, where Node's writes U+FFFD;
 * so a string with a lone surrogate half is not written here (`string` returns false
 * and the caller takes the generic path).
 */

/** What protobufjs's 64-bit path gets from `Long.fromValue`: the two 32-bit halves. */
export interface LongLike {
  low: number;
  high: number;
}

const f32 = new Float32Array(1);
const f32Bytes = new Uint8Array(f32.buffer);
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** A surrogate half without its other half (a pair is UTF-8 the same either way). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export class WireBuffer {
  private buf: Buffer = Buffer.allocUnsafe(64 * 1024);
  private pos = 0;
  private readonly starts: number[] = [];

  /** Starts a new message (the buffer is reused between messages). */
  reset(): void {
    this.pos = 0;
    this.starts.length = 0;
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  uint32(value: number): this {
    let v = value >>> 0;
    this.ensure(5);
    const buf = this.buf;
    let pos = this.pos;
    while (v > 127) {
      buf[pos++] = (v & 127) | 128;
      v >>>= 7;
    }
    buf[pos++] = v;
    this.pos = pos;
    return this;
  }

  int32(value: number): this {
    // protobufjs: a negative int32 is written as a 10-byte (sign-extended 64-bit) varint.
    if (value < 0) return this.varint64FromNumber(value);
    return this.uint32(value);
  }

  sint32(value: number): this {
    return this.uint32(((value << 1) ^ (value >> 31)) >>> 0);
  }

  bool(value: boolean): this {
    this.ensure(1);
    this.buf[this.pos++] = value ? 1 : 0;
    return this;
  }

  fixed32(value: number): this {
    this.ensure(4);
    this.writeFixed32(value >>> 0);
    return this;
  }

  sfixed32(value: number): this {
    return this.fixed32(value);
  }

  float(value: number): this {
    this.ensure(4);
    f32[0] = value;
    this.copyFloat(f32Bytes, 4);
    return this;
  }

  double(value: number): this {
    this.ensure(8);
    f64[0] = value;
    this.copyFloat(f64Bytes, 8);
    return this;
  }

  int64(value: LongLike): this {
    return this.varint64(value.low >>> 0, value.high >>> 0);
  }

  uint64(value: LongLike): this {
    return this.int64(value);
  }

  sint64(value: LongLike): this {
    const lo = value.low >>> 0;
    const hi = value.high >>> 0;
    const mask = hi >> 31;
    return this.varint64(((lo << 1) ^ mask) >>> 0, (((hi << 1) | (lo >>> 31)) ^ mask) >>> 0);
  }

  fixed64(value: LongLike): this {
    this.ensure(8);
    this.writeFixed32(value.low >>> 0);
    this.writeFixed32(value.high >>> 0);
    return this;
  }

  sfixed64(value: LongLike): this {
    return this.fixed64(value);
  }

  /** False (nothing written) for a string with a lone surrogate half: see the file comment. */
  string(value: string): boolean {
    let length = value.length;
    // Non-ASCII: its UTF-8 length, unless it has surrogate halves.
    let ascii = true;
    for (let i = 0; i < value.length; i++) {
      if (value.charCodeAt(i) > 127) {
        ascii = false;
        break;
      }
    }
    if (!ascii) {
      if (LONE_SURROGATE.test(value)) return false;
      length = Buffer.byteLength(value, 'utf8');
    }
    this.uint32(length);
    this.ensure(length);
    if (ascii && length < 64) {
      const buf = this.buf;
      let pos = this.pos;
      for (let i = 0; i < length; i++) buf[pos++] = value.charCodeAt(i);
      this.pos = pos;
    } else {
      this.pos += this.buf.write(value, this.pos, length, 'utf8');
    }
    return true;
  }

  bytes(value: Uint8Array): this {
    this.uint32(value.length);
    this.ensure(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
    return this;
  }

  /** Starts a length-delimited body (one byte reserved for its length). */
  fork(): this {
    this.ensure(1);
    this.starts.push(this.pos);
    this.pos++;
    return this;
  }

  /** Ends the body `fork` started: writes its length, moving the body if the length takes more than one byte. */
  ldelim(): this {
    const start = this.starts.pop() as number;
    const length = this.pos - start - 1;
    if (length < 128) {
      this.buf[start] = length;
      return this;
    }
    const size = length < 1 << 14 ? 2 : length < 1 << 21 ? 3 : length < 1 << 28 ? 4 : 5;
    this.ensure(size - 1);
    this.buf.copyWithin(start + size, start + 1, this.pos);
    let v = length;
    let at = start;
    while (v > 127) {
      this.buf[at++] = (v & 127) | 128;
      v >>>= 7;
    }
    this.buf[at] = v;
    this.pos += size - 1;
    return this;
  }

  /** A copy of what was written (the buffer is reused). */
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }

  private writeFixed32(v: number): void {
    const buf = this.buf;
    buf[this.pos++] = v & 255;
    buf[this.pos++] = (v >>> 8) & 255;
    buf[this.pos++] = (v >>> 16) & 255;
    buf[this.pos++] = v >>> 24;
  }

  private copyFloat(bytes: Uint8Array, size: number): void {
    for (let i = 0; i < size; i++) this.buf[this.pos++] = bytes[LITTLE_ENDIAN ? i : size - 1 - i] as number;
  }

  /** protobufjs's LongBits.fromNumber, then its 64-bit varint. */
  private varint64FromNumber(value: number): this {
    if (value === 0) return this.varint64(0, 0);
    const sign = value < 0;
    const magnitude = sign ? -value : value;
    let lo = magnitude >>> 0;
    let hi = ((magnitude - lo) / 4294967296) >>> 0;
    if (sign) {
      hi = ~hi >>> 0;
      lo = ~lo >>> 0;
      if (++lo > 4294967295) {
        lo = 0;
        if (++hi > 4294967295) hi = 0;
      }
    }
    return this.varint64(lo, hi);
  }

  private varint64(low: number, high: number): this {
    this.ensure(10);
    const buf = this.buf;
    let lo = low;
    let hi = high;
    let pos = this.pos;
    while (hi) {
      buf[pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo > 127) {
      buf[pos++] = (lo & 127) | 128;
      lo >>>= 7;
    }
    buf[pos++] = lo;
    this.pos = pos;
    return this;
  }
}
