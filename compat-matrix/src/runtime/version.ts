/**
 * The Envoy version of an image comes from its binary (`envoy --version`), never
 * from the image's name: a tag can say anything (`latest`, `dev-<sha>`, a mirror's
 * own name), the binary cannot.
 */

export interface BinaryVersion {
  /** What the binary says, e.g. `1.40.0` or `1.41.0-dev`. */
  reported: string;
  /** The X.Y.Z the capability table is read with. */
  effective: string;
  /** Set when `effective` differs from `reported`, for the report. */
  note?: string;
}

/**
 * Parses `envoy --version` output:
 *   `envoy  version: 8f9b0a…/1.40.0/Clean/RELEASE/BoringSSL`
 * (the same build string /server_info reports). undefined when there is none.
 */
export function parseEnvoyVersionOutput(text: string): string | undefined {
  return /version:\s*\S*?\/(\d+\.\d+\.\d+(?:-[A-Za-z0-9.]+)?)\//.exec(text)?.[1];
}

/**
 * A development build (`envoyproxy/envoy:dev-<sha>` reports e.g. `1.41.0-dev`) is
 * main after the 1.40 release: what will become 1.41.0, so the table is read as
 * for 1.41.0 (the next minor), and the report says so.
 */
export function binaryVersion(reported: string): BinaryVersion {
  const m = /^(\d+\.\d+\.\d+)(?:-(.+))?$/.exec(reported);
  if (!m) throw new Error(`not an Envoy version: ${JSON.stringify(reported)}`);
  const base = m[1] as string;
  const suffix = m[2];
  if (!suffix) return { reported, effective: base };
  const [major, minor] = base.split('.').map(Number) as [number, number];
  const note =
    suffix === 'dev'
      ? `Envoy ${reported} is a development build: treated as ${base}, the next minor after ${major}.${minor - 1}`
      : `Envoy ${reported} is a pre-release: treated as ${base}`;
  return { reported, effective: base, note };
}
