/**
 * "Last good per object", the one implementation every source uses (the file
 * source and the Kubernetes source):
 *
 * - An object that fails validation on its own keeps serving its last good
 *   version, if it had one (and is left out if not); its own errors are reported.
 * - Two objects in conflict (one defined twice, one TCP port claimed twice): the
 *   one that was serving keeps serving; the newcomer is rejected with an error
 *   naming both places.
 * - References (HTTPRoute parents and backends) resolve against the objects
 *   served, plus any services the source has without a manifest (native
 *   Kubernetes Services).
 *
 * Pure: the caller keeps the returned `state` and passes it to the next call.
 */
import { type Manifest, type ManifestOutcome, parseManifests } from './manifests.js';
import type { ConfigError, MeshModel, MeshService } from './types.js';

export interface SourceObject {
  /**
   * Identity across versions, for last-good bookkeeping: the uid in Kubernetes
   * (a deleted-and-recreated object starts fresh), `Kind namespace/name|file`
   * for files.
   */
  key: string;
  manifest: Manifest;
  /** A version label reported back (the Kubernetes generation). */
  generation?: number;
}

export interface LastGoodVersion {
  manifest: Manifest;
  generation?: number;
}

export interface LastGoodState {
  /** The last version of each object that was valid on its own, by key. */
  readonly versions: ReadonlyMap<string, LastGoodVersion>;
  /** Keys of the objects in the last model delivered: they win conflicts. */
  readonly serving: ReadonlySet<string>;
}

export function emptyLastGood(): LastGoodState {
  return { versions: new Map(), serving: new Set() };
}

export interface ObjectOutcome {
  key: string;
  /** `Kind namespace/name`, where it could be read. */
  object?: string;
  /** Errors of the current version on its own (field paths). */
  invalid: ConfigError[];
  /** References of the served version that do not resolve. */
  unresolved: ConfigError[];
  /** The served version is defined twice, or claims what another object holds. */
  conflicts: ConfigError[];
  /** The version in the model: the current one, an older good one, or none. */
  served?: LastGoodVersion;
}

export interface LastGoodResult {
  model: MeshModel;
  /** Every error a user can act on, in input order. */
  errors: ConfigError[];
  /** One per input object, in input order. */
  outcomes: ObjectOutcome[];
  state: LastGoodState;
}

function isOwnError(error: ConfigError): boolean {
  return error.reason === undefined || error.reason === 'invalid';
}

export function resolveLastGood(
  objects: readonly SourceObject[],
  previous: LastGoodState,
  options: { services?: ReadonlyMap<string, MeshService> } = {},
): LastGoodResult {
  const versions = new Map<string, LastGoodVersion>();
  const outcomes: ObjectOutcome[] = [];
  const candidates: { outcome: ObjectOutcome; version: LastGoodVersion }[] = [];
  for (const object of objects) {
    const alone = parseManifests([object.manifest]).outcomes[0] as ManifestOutcome;
    const invalid = alone.errors.filter(isOwnError);
    const outcome: ObjectOutcome = { key: object.key, invalid, unresolved: [], conflicts: [] };
    if (alone.object) outcome.object = alone.object;
    outcomes.push(outcome);
    const current: LastGoodVersion = { manifest: object.manifest };
    if (object.generation !== undefined) current.generation = object.generation;
    const version = invalid.length === 0 ? current : previous.versions.get(object.key);
    if (!version) continue;
    versions.set(object.key, version);
    candidates.push({ outcome, version });
  }

  const parsed = parseManifests(
    candidates.map((c) => c.version.manifest),
    { ...options, incumbent: (i) => previous.serving.has((candidates[i] as (typeof candidates)[number]).outcome.key) },
  );
  const serving = new Set<string>();
  parsed.outcomes.forEach((result, i) => {
    const { outcome, version } = candidates[i] as (typeof candidates)[number];
    // The fallback version's own errors are already reported as the current version's.
    outcome.unresolved.push(...result.errors.filter((e) => e.reason === 'unresolved'));
    outcome.conflicts.push(...result.errors.filter((e) => e.reason === 'conflict'));
    if (result.accepted) {
      outcome.served = version;
      serving.add(outcome.key);
    }
  });
  const errors = outcomes.flatMap((o) => [...o.invalid, ...o.conflicts, ...o.unresolved]);
  return { model: parsed.model, errors, outcomes, state: { versions, serving } };
}
