/** The `meshcp` command line: serve, bootstrap, translate, status, envoy install, compat (usage below; README "Try it"). */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { kubeClientFor, MeshcpOnKubernetes } from '@meshcp/k8s';
import { envoyBootstrap, envoyProfile, grpcBootstrap, type ProxyInfo, proxyFromNode, translateEnvoy } from '@meshcp/translators';
import { stringify } from 'yaml';
import { ControlPlane } from './control-plane.js';
import { installEnvoy } from './envoy-install.js';
import { FileSource } from './source/file-source.js';

const USAGE = `usage:
  meshcp serve --file PATH | --kubeconfig PATH [--lease-namespace NS] [--xds-address HOST:PORT] [--admin-address HOST:PORT]
               [--max-message-bytes N] [--max-resource-names N] [--max-streams-per-node N] [--write-deadline-seconds N]
               (in a pod, without --file: the pod's service account)
  meshcp bootstrap --node-id ID --service S --namespace NS [--region R --zone Z] [--xds-address HOST:PORT]
                   [--admin-port N] [--outbound-port N] [--inbound-port N --app-port N]
                   [--tcp-port-offset N] [--delta] [--grpc]
  meshcp translate --file PATH --envoy-version X.Y.Z [--node-id ID --namespace NS --region R --zone Z --outbound-port N]
  meshcp status [--admin-address HOST:PORT]
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

async function serve(args: string[]): Promise<void> {
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
    },
  });
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
  if (kubernetes) {
    onKubernetes = new MeshcpOnKubernetes(kubeClientFor(values.kubeconfig), {
      ...(values['lease-namespace'] ? { lease: { namespace: values['lease-namespace'] } } : {}),
    });
  }
  const plane = new ControlPlane(onKubernetes ? { source: onKubernetes.source, ...addresses, xds } : { file: need(values.file, 'file'), ...addresses, xds });
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
    },
  });
  const common = {
    nodeId: need(values['node-id'], 'node-id'),
    service: need(values.service, 'service'),
    namespace: need(values.namespace, 'namespace'),
    ...(values.region ? { region: values.region } : {}),
    ...(values.zone ? { zone: values.zone } : {}),
    ...(values['sub-zone'] ? { subZone: values['sub-zone'] } : {}),
    xdsAddress: values['xds-address'] ?? '127.0.0.1:18000',
  };
  if (values.grpc) {
    process.stdout.write(`${JSON.stringify(grpcBootstrap(common), null, 2)}\n`);
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

async function status(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { 'admin-address': { type: 'string' } } });
  const address = values['admin-address'] ?? '127.0.0.1:9902';
  const response = await fetch(`http://${address}/debug/proxies`);
  const { proxies } = (await response.json()) as {
    proxies: { nodeId: string; version: string; profile: string; mode: string; types: Record<string, { short: string; status: string }> }[];
  };
  const rows = [['NODE', 'VERSION', 'PROFILE', 'MODE', 'CDS', 'EDS', 'LDS', 'RDS']];
  for (const p of proxies) {
    const byShort = Object.fromEntries(Object.values(p.types).map((t) => [t.short, t.status]));
    rows.push([p.nodeId, p.version, p.profile, p.mode, byShort.CDS ?? '-', byShort.EDS ?? '-', byShort.LDS ?? '-', byShort.RDS ?? '-']);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  for (const row of rows)
    process.stdout.write(
      `${row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd()}\n`,
    );
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        await serve(rest);
        return -1; // keeps running
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
