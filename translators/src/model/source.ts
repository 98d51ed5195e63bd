import type { ConfigError, MeshModel } from './types.js';

/** What a source (file, Kubernetes) hands the control plane each time its view changes. */
export interface SourceResult {
  model: MeshModel;
  errors: ConfigError[];
}

/**
 * A producer of the mesh model. `start` resolves once the first complete view has
 * been delivered (the control plane serves nothing before that); later views are
 * delivered whenever they change. A source never delivers a partial view, and
 * never drops what serves because its input went bad: each object keeps its last
 * good version (`resolveLastGood`, shared by every source), and an input that
 * vanishes or breaks (an emptied file, an API server that is away) keeps its
 * last good content, with the reason in `errors`.
 */
export interface MeshSource {
  readonly name: string;
  start(onUpdate: (result: SourceResult) => void): Promise<void>;
  stop(): Promise<void> | void;
}
