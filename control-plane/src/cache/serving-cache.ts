/**
 * What the xDS layer (admission, sessions, stream state machines) reads: the snapshot
 * cache itself in a single process, or a worker's mirror of the primary's encoded
 * variants (mirror-cache.ts) when `meshcp serve --workers N` serves from every core.
 */
import type { ProxyInfo } from '@meshcp/translators';
import type { EncodedResource, TypeUrl } from '@meshcp/xds-protos';
import type { ResourceSet } from '../snapshot/builder.js';
import type { CacheChange, ProxyView } from './snapshot-cache.js';

export interface ServingCache {
  /** A model has been applied: responses may be sent. */
  isReady(): boolean;
  /** Everything this view reads is present (a worker may still be waiting for its variant). */
  isReadyFor(view: ProxyView): boolean;
  onChange(listener: (change: CacheChange) => void): () => void;
  /** The view a new stream reads through; pair with `release` when the stream ends. */
  viewFor(info: ProxyInfo, identityKey?: string): ProxyView;
  release(view: ProxyView): void;
  endpointNames(): readonly string[];
  resourceSet(view: ProxyView, typeUrl: TypeUrl): ResourceSet;
  resource(view: ProxyView, typeUrl: TypeUrl, name: string): EncodedResource | undefined;
}
