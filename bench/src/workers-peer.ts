/**
 * meshcp serving from every core, fed like the in-process bench server: this process is
 * the node:cluster primary of the production XdsWorkerPool (control-plane/src/xds/workers.ts)
 * — it owns the model and the SnapshotCache, translates and encodes once and mirrors the
 * variants to the workers — and the workers are this same script, which, forked, runs the
 * production worker (`runXdsWorker`: an XdsServer reading a MirrorCache), exactly as
 * `meshcp serve --workers N` forks the CLI. Nothing of the worker logic lives here.
 *
 * A change goes straight to `SnapshotCache.setModel` (as in meshcp-server.ts: no file
 * watch, no debounce), so the figures read against the single-loop server and
 * go-control-plane on the same terms. The load generator sums CPU and RSS over the
 * primary and its workers (its -server-pid walks the process tree). `GET /metrics` on the
 * control port is the pool's aggregate (the primary's metrics plus every worker's).
 *
 *   node bench/dist/workers-peer.js --file mesh.yaml --workers N [--xds-address 127.0.0.1:0] [--control-address 127.0.0.1:0] [--tls-state-dir DIR]
 * prints `READY xds=PORT control=PORT pid=PID` on stdout once every worker listens.
 */
import { parseArgs } from 'node:util';
import { isXdsWorker, Metrics, runXdsWorker, SnapshotCache, serveSecurity, XdsWorkerPool } from 'meshcp';
import { splitHostPort } from './model.js';
import { checkPeerValues, PEER_OPTIONS, runPeer } from './peer-common.js';

function options() {
  const { values } = parseArgs({ options: { ...PEER_OPTIONS, workers: { type: 'string', default: '2' } } });
  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 2) throw new Error('--workers must be an integer ≥ 2 (one process is meshcp-server.js)');
  return { ...checkPeerValues(values), workers };
}

type Options = ReturnType<typeof options>;

function security(values: Options) {
  const stateDir = values['tls-state-dir'];
  return stateDir ? serveSecurity({ insecure: false, xdsHost: splitHostPort(values['xds-address']).host, stateDir }) : Promise.resolve(undefined);
}

/** A forked worker: its own TLS and authenticator from the same state directory (the CLI's worker does the same). */
async function worker(values: Options): Promise<void> {
  const tls = await security(values);
  await runXdsWorker(
    {
      ...(tls?.credentials ? { credentials: tls.credentials } : {}),
      ...(tls?.authenticator ? { authenticator: tls.authenticator } : {}),
    },
    tls?.servingExpiry,
  );
}

async function primary(values: Options): Promise<void> {
  const tls = await security(values);
  const metrics = new Metrics();
  const cache = new SnapshotCache(metrics);
  // No `exec`: the workers run this script with these arguments (isXdsWorker() tells them apart).
  const pool = new XdsWorkerPool(cache, metrics, { count: values.workers }, tls?.ca);
  await runPeer(values, {
    cache,
    startXds: (address) => pool.start(address),
    // The convergence histogram is the workers' (they serve the streams), summed by the pool.
    metricsText: () => pool.metricsText(),
    contentType: metrics.registry.contentType,
    stop: () => {
      tls?.stop();
      return pool.stop();
    },
  });
}

const values = options();
(isXdsWorker() ? worker(values) : primary(values)).catch((error) => {
  process.stderr.write(`workers-peer${isXdsWorker() ? ' (worker)' : ''}: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
