/**
 * Every Envoy version fact meshcp has, read from the one data file
 * xds-protos/envoy-api.json (shipped in this package): the supported minors, the API
 * descriptors built for each, and the releases the compat matrix, the demo and the
 * tests run. Nothing else in the repository lists versions; a test greps for that.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface EnvoyVersionData {
  supportedMinors: string[];
  runtimeMinor: string;
  /** Envoy minor → go-control-plane `envoy` module version its descriptors come from. */
  descriptorModules: Record<string, string>;
  releases: string[];
  packages: string[];
}

export const ENVOY_VERSIONS_FILE = join(dirname(dirname(fileURLToPath(import.meta.url))), 'envoy-api.json');

export function compareMinor(a: string, b: string): number {
  const [aMajor = 0, aMinor = 0] = a.split('.').map(Number);
  const [bMajor = 0, bMinor = 0] = b.split('.').map(Number);
  return aMajor - bMajor || aMinor - bMinor;
}

const MINOR = /^\d+\.\d+$/;
const RELEASE = /^\d+\.\d+\.\d+$/;
const minorOf = (release: string) => release.split('.').slice(0, 2).join('.');

/** What is wrong with a version file, as sentences; empty when it is consistent. */
export function envoyVersionProblems(data: EnvoyVersionData): string[] {
  const problems: string[] = [];
  const supported = Array.isArray(data.supportedMinors) ? data.supportedMinors : [];
  const apis = Object.keys(data.descriptorModules ?? {});
  const releases = Array.isArray(data.releases) ? data.releases : [];
  if (supported.length === 0) problems.push('supportedMinors is empty');
  for (const minor of supported) if (!MINOR.test(minor)) problems.push(`supportedMinors: ${JSON.stringify(minor)} is not X.Y`);
  if (supported.some((minor, i) => i > 0 && compareMinor(supported[i - 1] as string, minor) >= 0)) {
    problems.push('supportedMinors must be oldest first, without repeats');
  }
  if (apis.length === 0) problems.push('descriptorModules is empty');
  for (const minor of apis) if (!supported.includes(minor)) problems.push(`descriptorModules has ${minor}, which is not a supported minor`);
  const newestApi = [...apis].sort(compareMinor).at(-1);
  if (data.runtimeMinor !== newestApi) problems.push(`runtimeMinor ${data.runtimeMinor} is not the newest API with descriptors (${newestApi})`);
  if (data.runtimeMinor !== supported.at(-1)) problems.push(`runtimeMinor ${data.runtimeMinor} is not the newest supported minor (${supported.at(-1)})`);
  if (releases.length === 0) problems.push('releases is empty');
  for (const release of releases) {
    if (!RELEASE.test(release)) problems.push(`releases: ${JSON.stringify(release)} is not X.Y.Z`);
    else if (!supported.includes(minorOf(release))) problems.push(`release ${release} is not of a supported minor`);
  }
  const releaseMinors = releases.map(minorOf);
  if (new Set(releaseMinors).size !== releaseMinors.length) problems.push('releases must hold one patch per minor');
  if (releaseMinors.some((minor, i) => i > 0 && compareMinor(releaseMinors[i - 1] as string, minor) >= 0)) problems.push('releases must be oldest first');
  if (releases.length > 0 && minorOf(releases.at(-1) as string) !== supported.at(-1)) {
    problems.push(`the newest release ${releases.at(-1)} is not of the newest supported minor ${supported.at(-1)}`);
  }
  return problems;
}

export function readEnvoyVersions(file = ENVOY_VERSIONS_FILE): EnvoyVersionData {
  const data = JSON.parse(readFileSync(file, 'utf8')) as EnvoyVersionData;
  const problems = envoyVersionProblems(data);
  if (problems.length > 0) throw new Error(`${file}: ${problems.join('; ')}`);
  return data;
}

const data = readEnvoyVersions();

/** Envoy minors meshcp supports, oldest first; goldens and API checks cover each. */
export const SUPPORTED_ENVOY_MINORS: readonly string[] = data.supportedMinors;
/** Oldest Envoy we translate for; anything unknown or older is treated as this. */
export const CONSERVATIVE_ENVOY_VERSION = `${data.supportedMinors[0]}.0`;
/** Envoy minors we have API descriptors for, oldest first. */
export const API_MINORS: readonly string[] = Object.keys(data.descriptorModules).sort(compareMinor);
/** The API the server encodes with: the newest, a superset of the older ones. */
export const RUNTIME_MINOR = data.runtimeMinor;
/** go-control-plane `envoy` module version per API minor. */
export const DESCRIPTOR_MODULES: Readonly<Record<string, string>> = data.descriptorModules;
/** The releases the compat matrix runs by default, oldest first (newest patch per minor). */
export const ENVOY_RELEASES: readonly string[] = data.releases;
/** The Envoy the demo, the tests and set-up install: the newest release. */
export const NEWEST_ENVOY_RELEASE = data.releases.at(-1) as string;
