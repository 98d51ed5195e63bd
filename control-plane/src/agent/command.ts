/** `meshcp agent …` (usage in cli.ts): flags → WorkloadCertificateAgent; runs until SIGTERM, or writes once with --once. */
import { parseArgs } from 'node:util';
import { logger } from '../log.js';
import { XDS_CLIENT_FLAGS, xdsClientFiles } from '../xds-client-flags.js';
import { WorkloadCertificateAgent } from './agent.js';

const ONCE_TIMEOUT_MS = 30_000;

/** Returns the exit code, or -1 while it keeps running. */
export async function agent(args: string[], version: string): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'xds-address': { type: 'string' },
      ...XDS_CLIENT_FLAGS,
      'node-id': { type: 'string' },
      namespace: { type: 'string' },
      'service-account': { type: 'string' },
      out: { type: 'string' },
      once: { type: 'boolean' },
    },
  });
  const usage = (why: string) => {
    process.stderr.write(`meshcp agent: ${why}\n`);
    return 2;
  };
  const caFile = values['xds-ca'];
  const nodeId = values['node-id'];
  const outDir = values.out;
  if (!caFile) return usage('missing --xds-ca (the agent only talks to meshcp over TLS: it receives private keys)');
  if (!nodeId) return usage('missing --node-id');
  if (!outDir) return usage('missing --out');
  if (Boolean(values['client-cert']) !== Boolean(values['client-key'])) return usage('give --client-cert and --client-key together');
  if (!values['client-cert'] && !values['token-file']) return usage('authenticate with --client-cert/--client-key or --token-file');
  const log = logger('agent');
  let lastError = '';
  const certificates = new WorkloadCertificateAgent({
    xdsAddress: values['xds-address'] ?? '127.0.0.1:18000',
    ...xdsClientFiles(values),
    caFile,
    nodeId,
    ...(values.namespace ? { namespace: values.namespace } : {}),
    ...(values['service-account'] ? { serviceAccount: values['service-account'] } : {}),
    outDir,
    version,
    onWrite: (w) => log.info('workload certificate written', { dir: outDir, certificateSha256: w.certificateSha256, trustBundleSha256: w.trustBundleSha256 }),
    onError: (message) => {
      lastError = message;
      log.warn(message);
    },
  });
  const started = certificates.start();
  if (values.once) {
    // Once: a meshcp that never answers is an error after ONCE_TIMEOUT_MS, not a hang.
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ONCE_TIMEOUT_MS);
    });
    const written = await Promise.race([started.then(() => true), timedOut]);
    clearTimeout(timer);
    certificates.stop();
    if (written) return 0;
    process.stderr.write(`meshcp agent: no certificate within ${ONCE_TIMEOUT_MS / 1000} s${lastError ? ` (last: ${lastError})` : ''}\n`);
    return 1;
  }
  await started;
  const stop = () => {
    certificates.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return -1;
}
