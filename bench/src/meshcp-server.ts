/**
 * The meshcp side of the benchmark: meshcp's own SnapshotCache + XdsServer in a
 * process of their own (so CPU seconds and peak RSS come from /proc), loaded from
 * the workload file, with a local control endpoint that applies an endpoint change.
 *
 * A change goes straight to `SnapshotCache.setModel` — the same call the debouncer
 * makes in `meshcp serve` — without the file watch and its debounce (quiet 100 ms,
 * max 1 s): go-control-plane has no debounce in front of its caches either, and the
 * debounce would add a fixed quiet window to every figure rather than measure the
 * server. The fast path (endpoint-only change keeps every LDS/RDS/CDS variant) is
 * exercised exactly as in production.
 *
 * `--tls-state-dir DIR` makes the xDS port authenticate as `meshcp serve` does without
 * --insecure (TLS, client certificates from the mesh CA kept in DIR: the bench issues the
 * load generator's with `meshcp identity issue --state-dir DIR`). `GET /metrics` on the
 * control port serves the Prometheus metrics (the convergence histogram the bench checks).
 *
 *   node bench/dist/meshcp-server.js --file mesh.yaml [--xds-address 127.0.0.1:0] [--control-address 127.0.0.1:0] [--tls-state-dir DIR]
 * prints `READY xds=PORT control=PORT pid=PID` on stdout once serving.
 */
import { parseArgs } from 'node:util';
import { Metrics, reexecWithMmapThreshold, SnapshotCache, serveSecurity, XdsServer } from 'meshcp';
import { splitHostPort } from './model.js';
import { checkPeerValues, PEER_OPTIONS, runPeer } from './peer-common.js';

async function main(): Promise<void> {
  // As `meshcp serve` does: the glibc malloc setting for many streams (same pid, so the bench's /proc figures stay this process's).
  reexecWithMmapThreshold();
  const values = checkPeerValues(parseArgs({ options: PEER_OPTIONS }).values);
  const metrics = new Metrics();
  const cache = new SnapshotCache(metrics);
  const security = values['tls-state-dir']
    ? await serveSecurity({ insecure: false, xdsHost: splitHostPort(values['xds-address']).host, stateDir: values['tls-state-dir'] })
    : undefined;
  const xds = new XdsServer(cache, metrics, {
    ...(security?.credentials ? { credentials: security.credentials } : {}),
    ...(security?.authenticator ? { authenticator: security.authenticator } : {}),
    ...(security?.ca ? { ca: security.ca } : {}),
  });
  await runPeer(values, {
    cache,
    startXds: (address) => xds.start(address),
    metricsText: () => metrics.registry.metrics(),
    contentType: metrics.registry.contentType,
    stop: () => {
      security?.stop();
      return xds.stop();
    },
  });
}

main().catch((error) => {
  process.stderr.write(`meshcp-server: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
