/** The proxyless gRPC client axis of the compat matrix. */
import { GRPC_CAPABILITIES } from '@meshcp/translators';
import { type ClientAxisReport, type ClientMatrixOptions, runClientMatrix } from './run.js';
import type { ClientTarget } from './versions.js';

export { Backend, startBackend } from './backend.js';
export { ClientCell, TARGET } from './cell.js';
export { GrpcClientProcess, installClient, type RpcResult, startServer } from './program.js';
export { renderClientHtml, renderClientMarkdown } from './report.js';
export type { ClientAxisReport, ClientCellResult, ClientMatrixOptions, ClientTargetResult } from './run.js';
export { CLIENT_SCENARIOS, clientScenarios, expectedProfile } from './scenarios.js';
export { type ClientImplementation, type ClientTarget, clientTarget, defaultClients, IMPLEMENTATIONS } from './versions.js';

/** Runs the client axis and prints one line per finished cell on stderr. */
export function runClientAxis(targets: ClientTarget[], options: Omit<ClientMatrixOptions, 'targets'>, signal?: AbortSignal): Promise<ClientAxisReport> {
  return runClientMatrix(
    {
      ...options,
      targets,
      ...(signal ? { signal } : {}),
      onCell:
        options.onCell ??
        ((c) =>
          process.stderr.write(
            `${c.status.toUpperCase().padEnd(4)} ${c.scenario} × ${c.target} (${(c.durationMs / 1000).toFixed(1)}s)${c.reason ? `: ${c.reason.split('\n')[0]?.slice(0, 300)}` : ''}\n`,
          )),
    },
    GRPC_CAPABILITIES.map((row) => row.feature),
  );
}
