#!/usr/bin/env node
// Builds one FileDescriptorSet (+ PGV rules) per Envoy API version from the
// go-control-plane "envoy" Go module, into ~/.cache/meshcp/descriptors/<minor>/,
// and links them under xds-protos/generated/. Nothing generated is committed.
// Usage: node build-descriptors.mjs [MINOR ...]   (default: every minor in envoy-api.json "descriptorModules")
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));
const api = JSON.parse(readFileSync(join(packageDir, 'envoy-api.json'), 'utf8'));
const cacheRoot = process.env.MESHCP_CACHE ?? join(homedir(), '.cache', 'meshcp');
const generatedDir = join(packageDir, 'generated');
const modulePath = 'github.com/envoyproxy/go-control-plane/envoy';
// Bump when dump.go or the package list changes so caches are rebuilt.
const dumperSource = readFileSync(join(packageDir, 'go', 'descdump', 'dump.go'), 'utf8');
const cacheTag = hash(dumperSource + JSON.stringify(api.packages));

function hash(text) {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return h.toString(16);
}

function go(args, cwd) {
  return execFileSync('go', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' },
  });
}

function build(minor) {
  const moduleVersion = api.descriptorModules[minor];
  if (!moduleVersion) throw new Error(`no go-control-plane module version listed for Envoy ${minor}`);
  // Keyed by what went into it, so checkouts with different package lists never rebuild each other's.
  const outDir = join(cacheRoot, 'descriptors', `${minor}-${moduleVersion}-${cacheTag}`);
  const stamp = join(outDir, 'stamp');
  const linkDir = join(generatedDir, minor);
  const fresh = existsSync(stamp) && readFileSync(stamp, 'utf8') === `${moduleVersion} ${cacheTag}`;
  if (!fresh) {
    const work = join(cacheRoot, 'descriptors', `${minor}-${moduleVersion}-${cacheTag}.src`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    writeFileSync(join(work, 'go.mod'), 'module meshcp.local/descdump\n\ngo 1.22\n');
    copyFileSync(join(packageDir, 'go', 'descdump', 'dump.go'), join(work, 'dump.go'));
    go(['get', `${modulePath}@${moduleVersion}`], work);
    const moduleDir = go(['list', '-m', '-f', '{{.Dir}}', modulePath], work).trim();
    const present = api.packages.filter((p) => existsSync(join(moduleDir, p)));
    const imports = present.map((p) => `\t_ "${modulePath}/${p}"`).join('\n');
    writeFileSync(join(work, 'imports.go'), `package main\n\nimport (\n${imports}\n)\n`);
    go(['mod', 'tidy'], work);
    go(['build', '-o', 'descdump', '.'], work);
    mkdirSync(outDir, { recursive: true });
    execFileSync(join(work, 'descdump'), [outDir]);
    writeFileSync(join(outDir, 'packages.json'), JSON.stringify({ moduleVersion, packages: present }, null, 1));
    writeFileSync(stamp, `${moduleVersion} ${cacheTag}`);
    rmSync(join(work, 'descdump'), { force: true });
  }
  mkdirSync(generatedDir, { recursive: true });
  rmSync(linkDir, { recursive: true, force: true });
  symlinkSync(outDir, linkDir);
  return { minor, moduleVersion, fresh };
}

const wanted = process.argv.slice(2);
const minors = wanted.length > 0 ? wanted : Object.keys(api.descriptorModules);
for (const minor of minors) {
  const started = Date.now();
  const result = build(minor);
  const how = result.fresh ? 'cached' : `built in ${((Date.now() - started) / 1000).toFixed(1)}s`;
  console.log(`descriptors ${minor} (${result.moduleVersion}): ${how}`);
}
if (minors.includes(api.runtimeMinor)) {
  // TypeScript types for the runtime API, generated from the same descriptors.
  execFileSync(process.execPath, [join(packageDir, 'scripts', 'generate-types.mjs')], { stdio: 'inherit' });
}
