/** The Envoy versions the matrix runs by default: the releases in xds-protos/envoy-api.json, the one version file. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENVOY_RELEASES, ENVOY_VERSIONS_FILE } from '@meshcp/xds-protos';

export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const VERSIONS_FILE = ENVOY_VERSIONS_FILE;

export function defaultVersions(): string[] {
  return [...ENVOY_RELEASES];
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
