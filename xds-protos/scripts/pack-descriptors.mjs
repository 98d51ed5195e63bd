#!/usr/bin/env node
// `npm pack` / `npm publish` of @meshcp/xds-protos (prepack): puts the API descriptors
// and PGV rules of every minor in envoy-api.json into the package, brotli-compressed,
// as descriptors/<minor>/{descriptors.pb,rules.json}.br — only what loadEnvoyApi reads.
// They are generated (build-descriptors.mjs: from the Go module, or the set-up cache),
// never committed; `--clean` (postpack) removes them again so a checkout keeps
// reading generated/.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants } from 'node:zlib';

const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));
const outRoot = join(packageDir, 'descriptors');
rmSync(outRoot, { recursive: true, force: true });
if (process.argv[2] === '--clean') process.exit(0);

const api = JSON.parse(readFileSync(join(packageDir, 'envoy-api.json'), 'utf8'));
const minors = Object.keys(api.descriptorModules);
// Its progress goes to stderr: stdout is `npm pack --json`'s report.
execFileSync(process.execPath, [join(packageDir, 'scripts', 'build-descriptors.mjs'), ...minors], { stdio: ['ignore', process.stderr, 'inherit'] });

let raw = 0;
let packed = 0;
for (const minor of minors) {
  const outDir = join(outRoot, minor);
  mkdirSync(outDir, { recursive: true });
  for (const name of ['descriptors.pb', 'rules.json']) {
    const bytes = readFileSync(join(packageDir, 'generated', minor, name));
    const compressed = brotliCompressSync(bytes, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length },
    });
    writeFileSync(join(outDir, `${name}.br`), compressed);
    raw += bytes.length;
    packed += compressed.length;
  }
}
const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
console.error(`descriptors for ${minors.join(', ')}: ${kib(raw)} → ${kib(packed)} brotli in xds-protos/descriptors/`);
