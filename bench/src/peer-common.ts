/** What the two in-process meshcp bench peers (meshcp-server.ts, workers-peer.ts) share: options, the model and its control endpoint, READY and shutdown. */
import type { SnapshotCache } from 'meshcp';
import { loadModel, startControlServer, withEndpointPort } from './model.js';

/** parseArgs options every peer takes. */
export const PEER_OPTIONS = {
  file: { type: 'string' },
  'xds-address': { type: 'string', default: '127.0.0.1:0' },
  'control-address': { type: 'string', default: '127.0.0.1:0' },
  'max-duration-s': { type: 'string', default: '1800' },
  // TLS + client certificates with the mesh CA in this directory, as `meshcp serve` without --insecure.
  'tls-state-dir': { type: 'string' },
} as const;

export interface PeerValues {
  file?: string;
  'xds-address': string;
  'control-address': string;
  'max-duration-s': string;
  'tls-state-dir'?: string;
}

/** The mesh file, and listen addresses on loopback only. */
export function checkPeerValues<T extends PeerValues>(values: T): T & { file: string } {
  const { file } = values;
  if (!file) throw new Error('--file is required');
  for (const a of [values['xds-address'], values['control-address']]) {
    if (!a.startsWith('127.') && !a.startsWith('localhost:')) throw new Error('listen addresses must be on loopback');
  }
  return { ...values, file };
}

export interface PeerServing {
  cache: SnapshotCache;
  /** Starts serving xDS on the address; resolves with the port. */
  startXds: (address: string) => Promise<number>;
  /** The Prometheus text `GET /metrics` answers (the convergence histogram the bench checks). */
  metricsText: () => Promise<string>;
  contentType: string;
  stop: () => Promise<void>;
}

/**
 * Loads the workload's model into the cache, starts xDS and the control endpoint (a change
 * goes straight to `setModel`), prints `READY xds=PORT control=PORT pid=PID`, and stops on
 * SIGTERM/SIGINT or after the peer's lifetime.
 */
export async function runPeer(values: PeerValues & { file: string }, serving: PeerServing): Promise<void> {
  let model = loadModel(values.file);
  serving.cache.setModel(model);
  const xdsPort = await serving.startXds(values['xds-address']);
  const control = await startControlServer(
    values['control-address'],
    (change) => {
      const next = withEndpointPort(model, change);
      model = next.model;
      serving.cache.setModel(model);
      return next.cluster;
    },
    (res) => {
      serving.metricsText().then(
        (text) => res.writeHead(200, { 'content-type': serving.contentType }).end(text),
        (error: Error) => res.writeHead(500).end(error.message),
      );
    },
  );
  process.stdout.write(`READY xds=${xdsPort} control=${control.port} pid=${process.pid}\n`);
  const shutdown = () => {
    control.close();
    serving.stop().finally(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  setTimeout(shutdown, Number(values['max-duration-s']) * 1000).unref();
}
