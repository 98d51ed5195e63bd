/** Test helpers: a headless-Chromium screenshot of a page, and a small PNG decoder to look at it. */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';
import { exec, tail } from '../src/exec.js';

export function chromiumBinary(): string | undefined {
  return ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
}

/** Renders `htmlFile` in headless Chromium (flags from the issue) and returns the PNG bytes. */
export async function screenshot(htmlFile: string, width = 1280, height = 1000): Promise<Buffer> {
  const binary = chromiumBinary();
  if (!binary) throw new Error('chromium not installed (scripts/setup.sh installs the Debian package `chromium`)');
  const work = mkdtempSync(join(tmpdir(), 'meshcp-chromium-'));
  try {
    const out = join(work, 'shot.png');
    const result = await exec(
      binary,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--hide-scrollbars',
        `--user-data-dir=${join(work, 'profile')}`,
        `--window-size=${width},${height}`,
        `--screenshot=${out}`,
        pathToFileURL(htmlFile).href,
      ],
      { timeoutMs: 90_000 },
    );
    if (!existsSync(out))
      throw new Error(`chromium wrote no screenshot (exit ${result.code}${result.error ? `, ${result.error}` : ''}): ${tail(result.stderr, 6)}`);
    return readFileSync(out);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface Image {
  width: number;
  height: number;
  /** RGBA, 4 bytes per pixel. */
  pixels: Buffer;
}

/** Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes). */
export function decodePng(png: Buffer): Image {
  if (png.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a') throw new Error('not a PNG');
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.subarray(offset + 4, offset + 8).toString('ascii');
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const bitDepth = data[8];
      const colorType = data[9];
      if (bitDepth !== 8 || (colorType !== 2 && colorType !== 6) || data[12] !== 0)
        throw new Error(`unsupported PNG (depth ${bitDepth}, color type ${colorType})`);
      channels = colorType === 6 ? 4 : 3;
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = Buffer.alloc(width * height * 4);
  let prev = Buffer.alloc(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? (line[i - channels] as number) : 0;
      const b = prev[i] as number;
      const c = i >= channels ? (prev[i - channels] as number) : 0;
      let add = 0;
      if (filter === 1) add = a;
      else if (filter === 2) add = b;
      else if (filter === 3) add = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        add = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      line[i] = ((line[i] as number) + add) & 0xff;
    }
    for (let x = 0; x < width; x++) {
      out[(y * width + x) * 4] = line[x * channels] as number;
      out[(y * width + x) * 4 + 1] = line[x * channels + 1] as number;
      out[(y * width + x) * 4 + 2] = line[x * channels + 2] as number;
      out[(y * width + x) * 4 + 3] = channels === 4 ? (line[x * channels + 3] as number) : 255;
    }
    prev = line;
  }
  return { width, height, pixels: out };
}

/** How much of the image is not the background, how many colours it has, and how many pixels are close to each named colour. */
export function analyse(image: Image, named: Record<string, [number, number, number]>): { inked: number; colours: number; near: Record<string, number> } {
  const [br, bg, bb] = [image.pixels[0] as number, image.pixels[1] as number, image.pixels[2] as number];
  const seen = new Set<number>();
  const near: Record<string, number> = Object.fromEntries(Object.keys(named).map((k) => [k, 0]));
  let inked = 0;
  const total = image.width * image.height;
  for (let i = 0; i < total; i++) {
    const r = image.pixels[i * 4] as number;
    const g = image.pixels[i * 4 + 1] as number;
    const b = image.pixels[i * 4 + 2] as number;
    if (Math.abs(r - br) + Math.abs(g - bg) + Math.abs(b - bb) > 30) inked++;
    seen.add((r << 16) | (g << 8) | b);
    for (const [name, [nr, ng, nb]] of Object.entries(named))
      if (Math.abs(r - nr) + Math.abs(g - ng) + Math.abs(b - nb) < 40) near[name] = (near[name] ?? 0) + 1;
  }
  return { inked: inked / total, colours: seen.size, near };
}

export const PASS_GREEN: [number, number, number] = [0x2d, 0xa4, 0x4e];
export const FAIL_RED: [number, number, number] = [0xcf, 0x22, 0x2e];
