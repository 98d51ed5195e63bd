/** Runtime-independent helpers shared by the compat matrix and the e2e tests. */
export { Cleanup, tempDir } from './cleanup.js';
export { type MeshServiceSpec, meshYaml, mtlsServiceYaml, parseClusterHosts, splitRouteYaml } from './mesh.js';
export { fetchText, freePort, type HttpResult, httpGet } from './net.js';
export { type RunningProcess, startProcess, stopProcess } from './process.js';
export { startUpstream, UPSTREAM_HEALTH_PATH, type Upstream } from './upstream.js';
export { AbortedError, pause, StopWaiting, waitFor } from './wait.js';
