#!/usr/bin/env node
// Packs the published packages (meshcp and its @meshcp/* dependencies) into one
// directory, as `npm publish` would upload them, and prints each tarball's size.
// @meshcp/xds-protos generates its descriptors while packing (its prepack script).
// Usage: node scripts/pack.mjs [OUT_DIR]   (default: .packed/)
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PUBLISHED_WORKSPACES = ['xds-protos', 'translators', 'k8s', 'compat-matrix', 'control-plane'];

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const outDir = resolve(process.argv[2] ?? join(root, '.packed'));
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
execFileSync('npx', ['tsc', '-b'], { cwd: root, stdio: 'inherit' });
const npmArgs = ['pack', '--json', '--pack-destination', outDir, ...PUBLISHED_WORKSPACES.flatMap((ws) => ['--workspace', ws])];
const packed = JSON.parse(execFileSync('npm', npmArgs, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
const kb = (n) => `${(n / 1000).toFixed(0)} kB`;
for (const p of packed) {
  console.log(
    `${p.filename.padEnd(36)} ${kb(statSync(join(outDir, p.filename)).size).padStart(8)} packed  ${kb(p.unpackedSize).padStart(8)} unpacked  ${p.entryCount} files`,
  );
}
const total = readdirSync(outDir).reduce((sum, f) => sum + statSync(join(outDir, f)).size, 0);
console.log(`${'total'.padEnd(36)} ${kb(total).padStart(8)} packed, in ${outDir}`);
