/**
 * A line plot as a PNG, drawn by the bench itself: an RGB raster, lines, axes with
 * tick labels in a built-in 5×7 font, and a PNG encoder on node:zlib (no browser,
 * no native canvas). Enough for the soak's RSS and CPU over time.
 */
import { deflateSync } from 'node:zlib';

type Rgb = [number, number, number];

export interface Series {
  label: string;
  color: Rgb;
  points: { x: number; y: number }[];
}

export interface Panel {
  /** Title, with the y unit. */
  title: string;
  series: Series[];
  /** Optional vertical marker (e.g. end of warm-up), in x units. */
  marker?: { x: number; label: string };
  /** Optional horizontal band upper edge (e.g. +5 % of the warm-up level). */
  band?: { y0: number; y1: number; color: Rgb };
}

// 5×7 glyphs: 7 rows of 5 columns each ('#' = ink).
const FONT: Record<string, readonly string[]> = {
  '0': [' ### ', '#   #', '#  ##', '# # #', '##  #', '#   #', ' ### '],
  '1': ['  #  ', ' ##  ', '  #  ', '  #  ', '  #  ', '  #  ', ' ### '],
  '2': [' ### ', '#   #', '    #', '   # ', '  #  ', ' #   ', '#####'],
  '3': ['#####', '   # ', '  #  ', '   # ', '    #', '#   #', ' ### '],
  '4': ['   # ', '  ## ', ' # # ', '#  # ', '#####', '   # ', '   # '],
  '5': ['#####', '#    ', '#### ', '    #', '    #', '#   #', ' ### '],
  '6': ['  ## ', ' #   ', '#    ', '#### ', '#   #', '#   #', ' ### '],
  '7': ['#####', '    #', '   # ', '  #  ', ' #   ', ' #   ', ' #   '],
  '8': [' ### ', '#   #', '#   #', ' ### ', '#   #', '#   #', ' ### '],
  '9': [' ### ', '#   #', '#   #', ' ####', '    #', '   # ', ' ##  '],
  '.': ['     ', '     ', '     ', '     ', '     ', ' ##  ', ' ##  '],
  '%': ['##   ', '##  #', '   # ', '  #  ', ' #   ', '#  ##', '   ##'],
  '-': ['     ', '     ', '     ', '#####', '     ', '     ', '     '],
  '+': ['     ', '  #  ', '  #  ', '#####', '  #  ', '  #  ', '     '],
  '(': ['   # ', '  #  ', ' #   ', ' #   ', ' #   ', '  #  ', '   # '],
  ')': [' #   ', '  #  ', '   # ', '   # ', '   # ', '  #  ', ' #   '],
  ':': ['     ', ' ##  ', ' ##  ', '     ', ' ##  ', ' ##  ', '     '],
  '/': ['    #', '    #', '   # ', '  #  ', ' #   ', '#    ', '#    '],
  '=': ['     ', '     ', '#####', '     ', '#####', '     ', '     '],
  ',': ['     ', '     ', '     ', '     ', ' ##  ', '  #  ', ' #   '],
  ' ': ['     ', '     ', '     ', '     ', '     ', '     ', '     '],
  A: [' ### ', '#   #', '#   #', '#####', '#   #', '#   #', '#   #'],
  B: ['#### ', '#   #', '#   #', '#### ', '#   #', '#   #', '#### '],
  C: [' ### ', '#   #', '#    ', '#    ', '#    ', '#   #', ' ### '],
  D: ['#### ', '#   #', '#   #', '#   #', '#   #', '#   #', '#### '],
  E: ['#####', '#    ', '#    ', '#### ', '#    ', '#    ', '#####'],
  F: ['#####', '#    ', '#    ', '#### ', '#    ', '#    ', '#    '],
  G: [' ### ', '#   #', '#    ', '# ###', '#   #', '#   #', ' ####'],
  H: ['#   #', '#   #', '#   #', '#####', '#   #', '#   #', '#   #'],
  I: [' ### ', '  #  ', '  #  ', '  #  ', '  #  ', '  #  ', ' ### '],
  K: ['#   #', '#  # ', '# #  ', '##   ', '# #  ', '#  # ', '#   #'],
  L: ['#    ', '#    ', '#    ', '#    ', '#    ', '#    ', '#####'],
  M: ['#   #', '## ##', '# # #', '# # #', '#   #', '#   #', '#   #'],
  N: ['#   #', '#   #', '##  #', '# # #', '#  ##', '#   #', '#   #'],
  O: [' ### ', '#   #', '#   #', '#   #', '#   #', '#   #', ' ### '],
  P: ['#### ', '#   #', '#   #', '#### ', '#    ', '#    ', '#    '],
  R: ['#### ', '#   #', '#   #', '#### ', '# #  ', '#  # ', '#   #'],
  S: [' ####', '#    ', '#    ', ' ### ', '    #', '    #', '#### '],
  T: ['#####', '  #  ', '  #  ', '  #  ', '  #  ', '  #  ', '  #  '],
  U: ['#   #', '#   #', '#   #', '#   #', '#   #', '#   #', ' ### '],
  V: ['#   #', '#   #', '#   #', '#   #', '#   #', ' # # ', '  #  '],
  W: ['#   #', '#   #', '#   #', '# # #', '# # #', '# # #', ' # # '],
  X: ['#   #', '#   #', ' # # ', '  #  ', ' # # ', '#   #', '#   #'],
  Y: ['#   #', '#   #', ' # # ', '  #  ', '  #  ', '  #  ', '  #  '],
  Z: ['#####', '    #', '   # ', '  #  ', ' #   ', '#    ', '#####'],
};

class Raster {
  readonly data: Buffer;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.data = Buffer.alloc(width * height * 3, 255);
  }
  set(x: number, y: number, c: Rgb): void {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= this.width || yi >= this.height) return;
    const i = (yi * this.width + xi) * 3;
    this.data[i] = c[0];
    this.data[i + 1] = c[1];
    this.data[i + 2] = c[2];
  }
  rect(x0: number, y0: number, x1: number, y1: number, c: Rgb): void {
    for (let y = Math.round(Math.min(y0, y1)); y <= Math.max(y0, y1); y++)
      for (let x = Math.round(Math.min(x0, x1)); x <= Math.max(x0, x1); x++) this.set(x, y, c);
  }
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, thick = 1): void {
    const steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
    for (let i = 0; i <= steps; i++) {
      const x = x0 + ((x1 - x0) * i) / steps;
      const y = y0 + ((y1 - y0) * i) / steps;
      for (let d = 0; d < thick; d++) {
        this.set(x, y + d, c);
        this.set(x + d, y, c);
      }
    }
  }
  /** Text in the 5×7 font (upper-cased); anchor 'left' | 'right' | 'center' at x. */
  text(x: number, y: number, s: string, c: Rgb, anchor: 'left' | 'right' | 'center' = 'left'): void {
    const upper = s.toUpperCase();
    const w = upper.length * 6;
    let cx = anchor === 'left' ? x : anchor === 'right' ? x - w : x - w / 2;
    for (const ch of upper) {
      const g = FONT[ch] ?? [];
      for (let r = 0; r < 7; r++) for (let col = 0; col < 5; col++) if (g[r]?.[col] === '#') this.set(cx + col, y + r, c);
      cx += 6;
    }
  }
}

/** A "nice" tick step for a range. */
function tickStep(range: number, ticks: number): number {
  const raw = range / Math.max(ticks, 1);
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const n = raw / mag;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
}

function fmtTick(v: number, step: number): string {
  const digits = step >= 1 ? 0 : Math.min(3, Math.ceil(-Math.log10(step)));
  return v.toFixed(digits);
}

const INK: Rgb = [40, 40, 40];
const GRID: Rgb = [225, 225, 225];

function drawPanel(r: Raster, top: number, height: number, panel: Panel, xLabel: string, xMax: number): void {
  const left = 70;
  const right = r.width - 28;
  const plotTop = top + 24;
  const bottom = top + height - 34;
  const ys = panel.series.flatMap((s) => s.points.map((p) => p.y));
  let yMin = Math.min(0, ...ys);
  let yMax = Math.max(...ys, panel.band?.y1 ?? 0, 1e-9);
  const step = tickStep(yMax - yMin, 5);
  yMin = Math.floor(yMin / step) * step;
  yMax = Math.ceil(yMax / step) * step;
  const px = (x: number) => left + ((right - left) * x) / (xMax || 1);
  const py = (y: number) => bottom - ((bottom - plotTop) * (y - yMin)) / (yMax - yMin || 1);
  r.text(left, top + 6, panel.title, INK);
  if (panel.band) r.rect(left, py(panel.band.y1), right, py(panel.band.y0), panel.band.color);
  for (let y = yMin; y <= yMax + step / 2; y += step) {
    r.line(left, py(y), right, py(y), GRID);
    r.text(left - 6, py(y) - 3, fmtTick(y, step), INK, 'right');
  }
  const xStep = tickStep(xMax, 10);
  for (let x = 0; x <= xMax + xStep / 2; x += xStep) {
    r.line(px(x), bottom, px(x), bottom + 4, INK);
    r.text(px(x), bottom + 8, fmtTick(x, xStep), INK, 'center');
  }
  r.text((left + right) / 2, bottom + 20, xLabel, INK, 'center');
  r.line(left, plotTop, left, bottom, INK);
  r.line(left, bottom, right, bottom, INK);
  if (panel.marker) {
    const x = px(panel.marker.x);
    for (let y = plotTop; y < bottom; y += 6) r.line(x, y, x, y + 3, [120, 120, 120]);
    r.text(x + 4, plotTop + 2, panel.marker.label, [120, 120, 120]);
  }
  let legendX = right;
  for (const s of [...panel.series].reverse()) {
    legendX -= s.label.length * 6 + 24;
    r.rect(legendX, top + 8, legendX + 12, top + 10, s.color);
    r.text(legendX + 16, top + 6, s.label, INK);
    for (let i = 1; i < s.points.length; i++) {
      const a = s.points[i - 1];
      const b = s.points[i];
      if (a && b) r.line(px(a.x), py(a.y), px(b.x), py(b.y), s.color, 2);
    }
  }
}

/** Panels stacked vertically, sharing the x axis; returns the PNG bytes. */
export function plotPng(panels: Panel[], xLabel: string, width = 900, panelHeight = 260): Buffer {
  const r = new Raster(width, panelHeight * panels.length);
  const xMax = Math.max(...panels.flatMap((p) => p.series.flatMap((s) => s.points.map((pt) => pt.x))), 1e-9);
  for (const [i, panel] of panels.entries()) drawPanel(r, i * panelHeight, panelHeight, panel, xLabel, xMax);
  return encodePng(r.width, r.height, r.data);
}

// ------------------------------------------------------------- PNG

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = (CRC_TABLE[(c ^ b) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** 8-bit RGB, no interlace, filter 0 on every row. */
export function encodePng(width: number, height: number, rgb: Buffer): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: truecolour
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) rgb.copy(rows, y * (width * 3 + 1) + 1, y * width * 3, (y + 1) * width * 3);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
