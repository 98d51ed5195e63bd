/** The `meshcp` command line: serve, bootstrap, translate, status, envoy install, compat (usage below; README "Try it"). */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { kubeClientFor, MeshcpOnKubernetes } from '@meshcp/k8s';
import {
  envoyBootstrap,
  envoyProfile,
  grpcBootstrap,
  type MeshSettings,
  type ProxyInfo,
  proxyFromNode,
  tracingFromFlags,
  translateEnvoy,
} from '@meshcp/translators';
import { stringify } from 'yaml';
import { agent } from './agent/command.js';
import { AdminAccess } from './auth/admin-access.js';
import { serveSecurity } from './auth/serve-security.js';
import { ControlPlane } from './control-plane.js';
import { installEnvoy } from './envoy-install.js';
import { CertificateAuthority } from './identity/ca.js';
import { FileCaStore } from './identity/file-store.js';
import { SecretCaStore } from './identity/secret-store.js';
import { DEFAULT_TRUST_DOMAIN } from './identity/spiffe.js';
import { FileSource } from './source/file-source.js';
import { csdsRows, fetchCsds, formatProxyStatus, type ProxyHeld, proxyHeldConfig, type ServedNow } from './status-csds.js';
import { reexecWithMmapThreshold } from './xds/malloc-tunables.js';
import { isXdsWorker, runXdsWorker } from './xds/workers.js';
import { XDS_CLIENT_FLAGS, XDS_TLS_FLAGS, xdsClientFiles } from './xds-client-flags.js';

const USAGE = `usage:
  meshcp serve --file PATH | --kubeconfig PATH [--lease-namespace NS] [--xds-address HOST:PORT] [--admin-address HOST:PORT]
               [--max-message-bytes N] [--max-resource-names N] [--max-streams-per-node N] [--write-deadline-seconds N]
               [--workers N]   (xDS served by N processes sharing the port; default one per core, 1 = this process)
               [--trust-domain TD] [--state-dir DIR] [--tls-name NAME]... [--token-audience AUD] [--svid-ttl-seconds N]
               [--csds-reader SPIFFE_ID]...   (who may read CSDS on an authenticating server)
               [--tracing-collector HOST:PORT [--tracing-sampling-percent N]]   (mesh-wide tracing; a MeshConfig overrides it)
               [--ca-reload-seconds N]   (how often the CA store is re-read for a rotated root)
               [--insecure]   (plaintext, no authentication; off loopback also MESHCP_INSECURE_NON_LOOPBACK=yes)
               (in a pod, without --file: the pod's service account)
  meshcp bootstrap --node-id ID --service S --namespace NS [--service-account SA] [--region R --zone Z] [--xds-address HOST:PORT]
                   [--admin-port N] [--outbound-port N] [--inbound-port N --app-port N]
                   [--tcp-port-offset N] [--delta] [--grpc]
                   [--xds-ca FILE [--client-cert FILE --client-key FILE | --token-file FILE] [--xds-server-name NAME]]
                   [--workload-cert-dir DIR]   (--grpc: mesh mTLS from the files meshcp agent writes there)
  meshcp agent --node-id ID --out DIR --xds-ca FILE (--client-cert FILE --client-key FILE | --token-file FILE)
               [--namespace NS] [--service-account SA] [--xds-address HOST:PORT] [--xds-server-name NAME] [--once]
               (writes and rotates cert.pem, key.pem, ca.pem for proxyless gRPC mesh mTLS)
  meshcp identity issue --namespace NS --service-account SA --out DIR [--state-dir DIR] [--trust-domain TD] [--ttl-hours N]
                   (writes cert.pem, key.pem and ca.pem from the local mesh CA, for proxies outside Kubernetes)
  meshcp identity rotate-root [--state-dir DIR | --kubeconfig PATH [--namespace NS]] [--trust-domain TD] [--overlap-seconds N]
                   (a new root signs from now on; the old one stays trusted for N s, default 86400; a running
                    serve on the same store picks it up within --ca-reload-seconds: 2 for a file, 30 for the Secret)
  meshcp translate --file PATH --envoy-version X.Y.Z [--node-id ID --namespace NS --region R --zone Z --outbound-port N]
  meshcp status [--admin-address HOST:PORT]
  meshcp status --xds-address HOST:PORT [--node-id ID] [--xds-ca FILE [--client-cert FILE --client-key FILE] [--xds-server-name NAME]]
               (from CSDS, the Client Status Discovery Service on the xDS port)
  meshcp status PROXY [--xds-address HOST:PORT] [--admin-address HOST:PORT] [--xds-ca FILE …] [--proxy-admin HOST:PORT]
               (one proxy's resources from CSDS, and a diff against what meshcp would send it now;
                with the proxy's Envoy admin, the fields that differ, held → now; secrets redacted)
  meshcp envoy install X.Y.Z
  meshcp compat run --envoy X.Y.Z[,…] [--runtime podman|docker|process] [--image REF] --out DIR   (see meshcp compat help)
  meshcp --version`;

/** The version of the installed meshcp package (all @meshcp packages, the image and the chart share it). */
export function meshcpVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

class UsageError extends Error {}

/**
 * `meshcp compat …` runs the compat matrix's own bin in a child process. The compat
 * matrix imports the control plane, so meshcp neither imports it nor lists it as a
 * dependency (a package.json cycle also breaks a clean `tsc -b`): it runs the
 * @meshcp/compat-matrix installed next to it (a checkout's workspace, or
 * `npm install meshcp @meshcp/compat-matrix`), else the same version through `npm exec`.
 */
function compat(args: string[]): Promise<number> {
  let command: string[];
  try {
    const packageDir = dirname(createRequire(import.meta.url).resolve('@meshcp/compat-matrix/package.json'));
    command = [process.execPath, join(packageDir, 'bin', 'meshcp-compat.js')];
    if (!existsSync(command[1] as string)) throw new Error(`the compat matrix is incomplete (${command[1]} not found)`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error;
    process.stderr.write(`meshcp compat: @meshcp/compat-matrix is not installed; running @meshcp/compat-matrix@${meshcpVersion()} through npm exec\n`);
    command = ['npm', 'exec', '--yes', `--package=@meshcp/compat-matrix@${meshcpVersion()}`, '--', 'meshcp-compat'];
  }
  const [file, ...prefix] = command as [string, ...string[]];
  return new Promise((resolve) => {
    const child = spawn(file, [...prefix, ...args], { stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('error', (error) => {
      process.stderr.write(`meshcp compat: ${error.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

/** How long `serve` may take to stop after SIGTERM/SIGINT before it exits anyway. */
const SHUTDOWN_GRACE_MS = 5000;

function positive(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${flag} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

function need(value: string | undefined, flag: string): string {
  if (!value) throw new UsageError(`missing --${flag}`);
  return value;
}

/**
 * One xDS worker per core the process may use: the cores it may run on, bounded by a
 * cgroup v2 CPU limit when it has one (in a pod, os.availableParallelism() counts the
 * node's cores, and 64 workers of ~50 MB each would not fit a 512Mi limit).
 */
function defaultWorkers(): number {
  let cores = availableParallelism();
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    if (quota && quota !== 'max' && Number(period) > 0) cores = Math.min(cores, Math.max(1, Math.ceil(Number(quota) / Number(period))));
  } catch {
    // No cgroup v2 CPU controller here: the cores it may run on.
  }
  return cores;
}

async function serve(args: string[]): Promise<void> {
  // Launched as `meshcp serve`: restart once with the malloc setting that keeps per-stream memory down (malloc-tunables.ts).
  if (process.argv[2] === 'serve') reexecWithMmapThreshold();
  const { values } = parseArgs({
    args,
    options: {
      file: { type: 'string' },
      kubeconfig: { type: 'string' },
      'lease-namespace': { type: 'string' },
      'xds-address': { type: 'string' },
      'admin-address': { type: 'string' },
      'max-message-bytes': { type: 'string' },
      'max-resource-names': { type: 'string' },
      'max-streams-per-node': { type: 'string' },
      'write-deadline-seconds': { type: 'string' },
      insecure: { type: 'boolean' },
      'trust-domain': { type: 'string' },
      'state-dir': { type: 'string' },
      'tls-name': { type: 'string', multiple: true },
      'csds-reader': { type: 'string', multiple: true },
      'token-audience': { type: 'string' },
      'svid-ttl-seconds': { type: 'string' },
      'tracing-collector': { type: 'string' },
      'tracing-sampling-percent': { type: 'string' },
      'ca-reload-seconds': { type: 'string' },
      workers: { type: 'string' },
    },
  });
  let settings: MeshSettings | undefined;
  if (values['tracing-collector']) {
    const parsed = tracingFromFlags(values['tracing-collector'], values['tracing-sampling-percent']);
    if (!parsed.settings) throw new UsageError(parsed.errors.map((e) => `${e.path.replace('spec.tracing.', 'tracing ')}: ${e.message}`).join('; '));
    settings = parsed.settings;
  } else if (values['tracing-sampling-percent']) throw new UsageError('--tracing-sampling-percent needs --tracing-collector');
  const workers = values.workers ? positive(values.workers, 'workers') : defaultWorkers();
  const xds = {
    ...(values['max-message-bytes'] ? { maxMessageBytes: positive(values['max-message-bytes'], 'max-message-bytes') } : {}),
    ...(values['max-resource-names'] ? { maxResourceNames: positive(values['max-resource-names'], 'max-resource-names') } : {}),
    ...(values['max-streams-per-node'] ? { maxStreamsPerNode: positive(values['max-streams-per-node'], 'max-streams-per-node') } : {}),
    ...(values['write-deadline-seconds'] ? { writeDeadlineMs: positive(values['write-deadline-seconds'], 'write-deadline-seconds') * 1000 } : {}),
  };
  const addresses = { xdsAddress: values['xds-address'] ?? '127.0.0.1:18000', adminAddress: values['admin-address'] ?? '127.0.0.1:9902' };
  // Kubernetes: --kubeconfig, or in-cluster config when run in a pod without --file.
  const kubernetes = values.kubeconfig || (!values.file && process.env.KUBERNETES_SERVICE_HOST);
  if (values.file && values.kubeconfig) throw new UsageError('give --file or --kubeconfig, not both');
  let onKubernetes: MeshcpOnKubernetes | undefined;
  // Workers read no sources and elect nothing: the primary does.
  if (kubernetes && !isXdsWorker()) {
    onKubernetes = new MeshcpOnKubernetes(kubeClientFor(values.kubeconfig), {
      ...(values['lease-namespace'] ? { lease: { namespace: values['lease-namespace'] } } : {}),
    });
  }
  const kubeClient = kubernetes ? kubeClientFor(values.kubeconfig) : undefined;
  const security = await serveSecurity({
    insecure: values.insecure ?? false,
    xdsHost: addresses.xdsAddress.slice(0, addresses.xdsAddress.lastIndexOf(':')).replace(/^\[|\]$/g, ''),
    stateDir: values['state-dir'] ?? defaultStateDir(),
    ...(values['trust-domain'] ? { trustDomain: values['trust-domain'] } : {}),
    ...(values['tls-name'] ? { names: values['tls-name'] } : {}),
    ...(values['token-audience'] ? { tokenAudience: values['token-audience'] } : {}),
    ...(values['svid-ttl-seconds'] ? { svidTtlMs: positive(values['svid-ttl-seconds'], 'svid-ttl-seconds') * 1000 } : {}),
    ...(values['ca-reload-seconds'] ? { caReloadMs: positive(values['ca-reload-seconds'], 'ca-reload-seconds') * 1000 } : {}),
    ...(kubeClient ? { kube: { client: kubeClient, namespace: values['lease-namespace'] ?? process.env.POD_NAMESPACE ?? 'meshcp-system' } } : {}),
  });
  const secured = {
    ...xds,
    ...(security.credentials ? { credentials: security.credentials } : {}),
    ...(security.authenticator ? { authenticator: security.authenticator } : {}),
    ...(values['csds-reader'] ? { csdsReaders: values['csds-reader'] } : {}),
    ...(security.ca ? { ca: security.ca } : {}),
  };
  if (isXdsWorker()) {
    // A worker forked by the primary below (same arguments): it serves xDS with its own
    // TLS and authenticator; sources, model, translation and the CA stay in the primary.
    const { ca: _ca, ...served } = secured;
    await runXdsWorker(served, security.servingExpiry);
    return;
  }
  const admin = { adminAccess: new AdminAccess(kubeClient), ...(settings ? { settings } : {}), ...(workers > 1 ? { workers: { count: workers } } : {}) };
  const plane = new ControlPlane(
    onKubernetes
      ? { source: onKubernetes.source, ...addresses, xds: secured, ...admin }
      : { file: need(values.file, 'file'), ...addresses, xds: secured, ...admin },
  );
  if (security.servingExpiry) plane.metrics.watchServingCertificate(security.servingExpiry);
  await plane.start();
  onKubernetes?.startStatus(plane);
  const shutdown = () => {
    // Bounded whatever the load: a stop that hangs (a stuck source, a peer that never
    // closes) must not keep the process alive past its grace period.
    setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref();
    Promise.resolve(onKubernetes?.stop())
      .then(() => plane.stop())
      .finally(() => process.exit(0));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

function bootstrap(args: string[]): void {
  const { values } = parseArgs({
    args,
    options: {
      'node-id': { type: 'string' },
      service: { type: 'string' },
      namespace: { type: 'string' },
      region: { type: 'string' },
      zone: { type: 'string' },
      'sub-zone': { type: 'string' },
      'xds-address': { type: 'string' },
      'admin-port': { type: 'string' },
      'outbound-port': { type: 'string' },
      'inbound-port': { type: 'string' },
      'app-port': { type: 'string' },
      'tcp-port-offset': { type: 'string' },
      delta: { type: 'boolean' },
      grpc: { type: 'boolean' },
      'service-account': { type: 'string' },
      ...XDS_CLIENT_FLAGS,
      'workload-cert-dir': { type: 'string' },
    },
  });
  if (!values['xds-ca'] && (values['client-cert'] || values['client-key'] || values['token-file']))
    throw new UsageError('--client-cert, --client-key and --token-file need --xds-ca');
  if (Boolean(values['client-cert']) !== Boolean(values['client-key'])) throw new UsageError('give --client-cert and --client-key together');
  // A token file is re-read by both: gRPC clients with jwt_token_file, Envoy with the file-based metadata plugin.
  const security = values['xds-ca'] ? { ...xdsClientFiles(values), caFile: values['xds-ca'] } : undefined;
  const common = {
    nodeId: need(values['node-id'], 'node-id'),
    service: need(values.service, 'service'),
    namespace: need(values.namespace, 'namespace'),
    ...(values.region ? { region: values.region } : {}),
    ...(values.zone ? { zone: values.zone } : {}),
    ...(values['sub-zone'] ? { subZone: values['sub-zone'] } : {}),
    xdsAddress: values['xds-address'] ?? '127.0.0.1:18000',
    ...(values['service-account'] ? { serviceAccount: values['service-account'] } : {}),
    ...(security ? { security } : {}),
  };
  if (values.grpc) {
    const workloadCertificateDir = values['workload-cert-dir'];
    process.stdout.write(`${JSON.stringify(grpcBootstrap({ ...common, ...(workloadCertificateDir ? { workloadCertificateDir } : {}) }), null, 2)}\n`);
    return;
  }
  const config = envoyBootstrap({
    ...common,
    adminPort: Number(values['admin-port'] ?? 15000),
    ...(values['outbound-port'] ? { outboundPort: Number(values['outbound-port']) } : {}),
    ...(values['inbound-port'] ? { inboundPort: Number(values['inbound-port']) } : {}),
    ...(values['app-port'] ? { appPort: Number(values['app-port']) } : {}),
    ...(values['tcp-port-offset'] ? { tcpPortOffset: Number(values['tcp-port-offset']) } : {}),
    delta: values.delta ?? false,
  });
  process.stdout.write(stringify(config));
}

/** Where a file-backed CA keeps its state: $XDG_STATE_HOME/meshcp, else ~/.local/state/meshcp. */
function defaultStateDir(): string {
  return join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'meshcp');
}

/** `meshcp identity issue`: an SVID from the local mesh CA, as files, for a proxy outside Kubernetes. */
async function identity(args: string[]): Promise<void> {
  const [verb, ...rest] = args;
  if (verb === 'rotate-root') return rotateRoot(rest);
  if (verb !== 'issue')
    throw new UsageError('usage: meshcp identity issue --namespace NS --service-account SA --out DIR | meshcp identity rotate-root [--overlap-seconds N]');
  const { values } = parseArgs({
    args: rest,
    options: {
      namespace: { type: 'string' },
      'service-account': { type: 'string' },
      out: { type: 'string' },
      'state-dir': { type: 'string' },
      'trust-domain': { type: 'string' },
      'ttl-hours': { type: 'string' },
    },
  });
  const stateDir = values['state-dir'] ?? defaultStateDir();
  const trustDomain = values['trust-domain'] ?? DEFAULT_TRUST_DOMAIN;
  const ca = await CertificateAuthority.open({ trustDomain, store: new FileCaStore(join(stateDir, 'ca.json')) });
  const svid = await ca.issue(
    { trustDomain, namespace: need(values.namespace, 'namespace'), serviceAccount: need(values['service-account'], 'service-account') },
    values['ttl-hours'] ? positive(values['ttl-hours'], 'ttl-hours') * 3600_000 : undefined,
  );
  const out = need(values.out, 'out');
  mkdirSync(out, { recursive: true, mode: 0o700 });
  writeFileSync(join(out, 'cert.pem'), svid.certificateChainPem);
  writeFileSync(join(out, 'key.pem'), svid.privateKeyPem, { mode: 0o600 });
  writeFileSync(join(out, 'ca.pem'), ca.trustBundle().join('\n'));
  process.stdout.write(
    `${svid.spiffeId} valid until ${svid.notAfter.toISOString()}: ${join(out, 'cert.pem')}, ${join(out, 'key.pem')}, ${join(out, 'ca.pem')}\n`,
  );
}

/** `meshcp identity rotate-root`: a new root in the file-backed CA store, the old one trusted for the overlap. */
async function rotateRoot(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      'state-dir': { type: 'string' },
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      'trust-domain': { type: 'string' },
      'overlap-seconds': { type: 'string' },
    },
  });
  if (values.kubeconfig && values['state-dir']) throw new UsageError('give --state-dir or --kubeconfig, not both');
  const trustDomain = values['trust-domain'] ?? DEFAULT_TRUST_DOMAIN;
  const overlapSeconds = values['overlap-seconds'] ? positive(values['overlap-seconds'], 'overlap-seconds') : 86_400;
  // The store serve uses: the Secret meshcp-ca of its namespace on Kubernetes, else the state file.
  const store = values.kubeconfig
    ? new SecretCaStore(kubeClientFor(values.kubeconfig), values.namespace ?? 'meshcp-system')
    : new FileCaStore(join(values['state-dir'] ?? defaultStateDir(), 'ca.json'));
  if (!(await store.load())) throw new UsageError('no CA in that store yet: rotate-root rotates the root a running meshcp created');
  const ca = await CertificateAuthority.open({ trustDomain, store });
  const before = ca.signerId();
  await ca.rotateRoot(overlapSeconds * 1000);
  process.stdout.write(
    `root ${before} → ${ca.signerId()}; both trusted until ${new Date(Date.now() + overlapSeconds * 1000).toISOString()} (trust bundle ${ca.trustBundleVersion()})\n`,
  );
}

function translate(args: string[]): void {
  const { values } = parseArgs({
    args,
    options: {
      file: { type: 'string' },
      'envoy-version': { type: 'string' },
      'node-id': { type: 'string' },
      namespace: { type: 'string' },
      region: { type: 'string' },
      zone: { type: 'string' },
      'outbound-port': { type: 'string' },
    },
  });
  // The same loading as `serve`: rejected objects are reported on stderr with their field paths.
  const { model } = new FileSource(need(values.file, 'file')).load();
  const version = need(values['envoy-version'], 'envoy-version');
  const [major, minor, patch] = version.split('.').map(Number);
  const proxy: ProxyInfo = proxyFromNode({
    id: values['node-id'] ?? 'translate',
    user_agent_name: 'envoy',
    user_agent_build_version: { version: { major_number: major ?? 0, minor_number: minor ?? 0, patch: patch ?? 0 } },
    locality: { ...(values.region ? { region: values.region } : {}), ...(values.zone ? { zone: values.zone } : {}) },
    metadata: { 'meshcp.namespace': values.namespace ?? 'default', ...(values['outbound-port'] ? { 'meshcp.outbound_port': values['outbound-port'] } : {}) },
  });
  const profile = envoyProfile(proxy);
  const resources = translateEnvoy(model, proxy, profile);
  process.stdout.write(stringify({ profile: profile.name, warnings: profile.warnings, ...resources }, { lineWidth: 0, aliasDuplicateObjects: false }));
}

function printTable(rows: string[][]): void {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  for (const row of rows)
    process.stdout.write(
      `${row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd()}\n`,
    );
}

async function status(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      'admin-address': { type: 'string' },
      'xds-address': { type: 'string' },
      'node-id': { type: 'string' },
      ...XDS_TLS_FLAGS,
      'proxy-admin': { type: 'string' },
    },
  });
  if (positionals.length > 1) throw new UsageError('meshcp status takes at most one PROXY (a node id)');
  const [proxy] = positionals;
  if (proxy) {
    await proxyStatus(proxy, values);
    return;
  }
  if (values['xds-address']) {
    const configs = await fetchCsds({
      address: values['xds-address'],
      ...(values['node-id'] ? { nodeId: values['node-id'] } : {}),
      ...xdsClientFiles(values),
    });
    printTable(csdsRows(configs));
    return;
  }
  const address = values['admin-address'] ?? '127.0.0.1:9902';
  const response = await fetch(`http://${address}/debug/proxies`);
  const { proxies } = (await response.json()) as {
    proxies: {
      nodeId: string;
      version: string;
      profile: string;
      mode: string;
      identity: string;
      certificate?: { notAfter: string; trustBundle?: string } | null;
      types: Record<string, { short: string; status: string }>;
      degraded?: string[];
    }[];
  };
  // DEGRADED: what the proxy was not given (e.g. a STRICT service a gRPC client cannot call
  // over mTLS): SYNCED per type alone would read as "all is well".
  const rows = [['NODE', 'VERSION', 'PROFILE', 'MODE', 'CDS', 'EDS', 'LDS', 'RDS', 'SDS', 'DEGRADED', 'IDENTITY', 'CERT EXPIRES', 'TRUST BUNDLE']];
  for (const p of proxies) {
    const byShort = Object.fromEntries(Object.values(p.types).map((t) => [t.short, t.status]));
    const degraded = p.degraded?.length ?? 0;
    rows.push([
      p.nodeId,
      p.version,
      p.profile,
      p.mode,
      byShort.CDS ?? '-',
      byShort.EDS ?? '-',
      byShort.LDS ?? '-',
      byShort.RDS ?? '-',
      byShort.SDS ?? '-',
      degraded > 0 ? `${degraded} (/debug/proxies)` : '-',
      p.identity,
      p.certificate?.notAfter ?? '-',
      p.certificate?.trustBundle ?? '-',
    ]);
  }
  printTable(rows);
}

/**
 * `meshcp status PROXY`: the proxy's resources from CSDS (the xDS port; default the
 * serve default), and a diff against what meshcp would send it now (the admin API's
 * per-proxy dump; on loopback by default).
 */
async function proxyStatus(proxy: string, values: Record<string, string | boolean | undefined>): Promise<void> {
  const text = (flag: string) => (typeof values[flag] === 'string' ? (values[flag] as string) : undefined);
  const [config] = await fetchCsds({
    address: text('xds-address') ?? '127.0.0.1:18000',
    nodeId: proxy,
    ...xdsClientFiles(values),
  });
  if (!config) throw new Error(`no connected proxy with node id ${JSON.stringify(proxy)} (CSDS)`);
  let now: ServedNow | undefined;
  try {
    const address = text('admin-address') ?? '127.0.0.1:9902';
    const response = await fetch(`http://${address}/debug/config_dump?proxy=${encodeURIComponent(proxy)}`, { signal: AbortSignal.timeout(10_000) });
    if (response.ok) {
      const dump = (await boundedJson(response, `meshcp admin ${address}`)) as { resources: ServedNow };
      now = dump.resources;
    }
  } catch {
    // The diff needs the admin API; the CSDS part stands on its own.
  }
  // What the proxy itself holds, field by field: its Envoy admin's config dump (meshcp keeps versions, not old content).
  let held: ProxyHeld | undefined;
  const proxyAdmin = text('proxy-admin');
  if (proxyAdmin) {
    const response = await fetch(`http://${proxyAdmin}/config_dump?include_eds`, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`proxy admin ${proxyAdmin}: /config_dump answered ${response.status}`);
    held = proxyHeldConfig(await boundedJson(response, `proxy admin ${proxyAdmin}`));
  }
  process.stdout.write(printable(formatProxyStatus(config, now, held)));
}

/** Largest admin answer `status` reads: a config dump of a large proxy is tens of MB, a hostile one could be endless. */
const MAX_ADMIN_ANSWER_BYTES = 256 * 1024 * 1024;

/** The answer's JSON, refused past MAX_ADMIN_ANSWER_BYTES instead of buffered whole. */
async function boundedJson(response: Response, from: string): Promise<unknown> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body ?? []) {
    size += chunk.byteLength;
    if (size > MAX_ADMIN_ANSWER_BYTES) {
      await response.body?.cancel();
      throw new Error(`${from}: the answer is larger than ${MAX_ADMIN_ANSWER_BYTES} bytes; not read`);
    }
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/** Names, paths and NACK texts come from the proxy: control characters are shown escaped, never sent to the terminal. */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        await serve(rest);
        return -1; // keeps running
      case 'identity':
        await identity(rest);
        return 0;
      case 'agent':
        return await agent(rest, meshcpVersion());
      case 'bootstrap':
        bootstrap(rest);
        return 0;
      case 'translate':
        translate(rest);
        return 0;
      case 'status':
        await status(rest);
        return 0;
      case 'envoy':
        if (rest[0] !== 'install' || !rest[1]) throw new UsageError('usage: meshcp envoy install X.Y.Z');
        process.stdout.write(`${await installEnvoy(rest[1])}\n`);
        return 0;
      case 'compat':
        return await compat(rest);
      case '--version':
      case '-v':
      case 'version':
        process.stdout.write(`${meshcpVersion()}\n`);
        return 0;
      default:
        process.stderr.write(`${USAGE}\n`);
        return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
    }
  } catch (error) {
    process.stderr.write(`meshcp ${command}: ${(error as Error).message}\n`);
    if (error instanceof UsageError) process.stderr.write(`${USAGE}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}
