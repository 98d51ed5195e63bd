/**
 * Entry of an xDS worker forked by a ControlPlane created in-process with `workers`
 * (tests, embedders): transport limits come as JSON in MESHCP_XDS_WORKER_OPTIONS, and
 * the port is plaintext (credentials do not cross processes; `meshcp serve` workers
 * run the CLI itself and build their own TLS and authenticator).
 */
import { runXdsWorker } from './workers.js';

await runXdsWorker(JSON.parse(process.env.MESHCP_XDS_WORKER_OPTIONS ?? '{}'));
