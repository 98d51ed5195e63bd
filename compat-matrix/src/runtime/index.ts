import { DockerRuntime, PodmanRuntime } from './container.js';
import { ProcessRuntime } from './process.js';
import { type EnvoyRuntime, RUNTIMES, type RuntimeName } from './types.js';

export { type ContainerRuntimeOptions, DockerRuntime, PodmanRuntime } from './container.js';
export { OWNER_HOST_LABEL, OWNER_PID_LABEL } from './owner.js';
export { ProcessRuntime } from './process.js';
export * from './types.js';
export * from './version.js';

export function createRuntime(name: string): EnvoyRuntime {
  switch (name as RuntimeName) {
    case 'podman':
      return new PodmanRuntime();
    case 'docker':
      return new DockerRuntime();
    case 'process':
      return new ProcessRuntime();
    default:
      throw new Error(`unknown runtime ${JSON.stringify(name)} (one of ${RUNTIMES.join(', ')})`);
  }
}
