/**
 * How a proxy's resources stand against what was sent, and the one order in which
 * several such states sum up: a stream shows as its worst type, a proxy as its worst
 * stream, a CSDS row's type as its worst resource (NACKED over STALE over NOT_SENT over
 * SYNCED). The metrics, `meshcp status` and the MeshService status counts all use it.
 */

/** Best first. */
const BEST_FIRST = ['SYNCED', 'NOT_SENT', 'STALE', 'NACKED'] as const;
export type SyncState = (typeof BEST_FIRST)[number];

/** A state this order does not name (CSDS's UNKNOWN) ranks with SYNCED: it never hides a known problem. */
const rankOf = (state: string): number => Math.max(0, (BEST_FIRST as readonly string[]).indexOf(state));

/** The worse of the state so far and the next one; of two equally bad, the one seen first. */
export function worseState<S extends string>(sofar: S | undefined, next: S): S {
  return sofar === undefined || rankOf(next) > rankOf(sofar) ? next : sofar;
}
