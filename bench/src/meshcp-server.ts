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
import { loadModel, splitHostPort, startControlServer, withEndpointPort } from './model.js';

async function main(): Promise<void> {
  // As `meshcp serve` does: the glibc malloc setting for many streams (same pid, so the bench's /proc figures stay this process's).
  reexecWithMmapThreshold();
  const { values } = parseArgs({
    options: {
      file: { type: 'string' },
      'xds-address': { type: 'string', default: '127.0.0.1:0' },
      'control-address': { type: 'string', default: '127.0.0.1:0' },
      'max-duration-s': { type: 'string', default: '1800' },
      // Authenticating server (TLS + client certificates) with the mesh CA in this directory, as `meshcp serve` without --insecure.
      'tls-state-dir': { type: 'string' },
    },
  });
  if (!values.file) throw new Error('--file is required');
  for (const a of [values['xds-address'], values['control-address']]) {
    if (!a.startsWith('127.') && !a.startsWith('localhost:')) throw new Error('listen addresses must be on loopback');
  }
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
  let model = loadModel(values.file);
  cache.setModel(model);
  const xdsPort = await xds.start(values['xds-address']);

  const control = await startControlServer(
    values['control-address'],
    (change) => {
      const next = withEndpointPort(model, change);
      model = next.model;
      cache.setModel(model);
      return next.cluster;
    },
    // The convergence histogram the bench compares with the load generator's own figures.
    (res) => {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (error: Error) => res.writeHead(500).end(error.message),
      );
    },
  );
  const controlPort = control.port;
  process.stdout.write(`READY xds=${xdsPort} control=${controlPort} pid=${process.pid}\n`);

  const shutdown = () => {
    control.close();
    security?.stop();
    xds.stop().finally(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  setTimeout(shutdown, Number(values['max-duration-s']) * 1000).unref();
}

main().catch((error) => {
  process.stderr.write(`meshcp-server: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
