/** The Envoy versions the matrix runs by default: data in compat-matrix/envoy-versions.json, not code. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const VERSIONS_FILE = join(PACKAGE_ROOT, 'envoy-versions.json');

export interface VersionList {
  versions: string[];
}

export function defaultVersions(file = VERSIONS_FILE): string[] {
  const data = JSON.parse(readFileSync(file, 'utf8')) as VersionList;
  if (!Array.isArray(data.versions) || data.versions.some((v) => !isVersion(v))) throw new Error(`${file}: "versions" must be a list of X.Y.Z strings`);
  return data.versions;
}

export function isVersion(value: unknown): value is string {
  return typeof value === 'string' && /^\d+\.\d+\.\d+$/.test(value);
}

/** Numeric comparison of X.Y.Z strings (for scenarios that depend on a version boundary). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
