/**
 * The programs the proxyless-gRPC mTLS tests run (e2e/grpc-mtls/), built once per source
 * and library version and cached under ~/.cache/meshcp/grpc-mtls like the matrix programs,
 * and the mesh they share.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { installClient } from '@meshcp/compat-matrix';
import { grpcBootstrap } from '@meshcp/translators';
import { type Cleanup, MESHCP_BIN, type SecureMeshcp, startProcess, waitFor } from '../src/harness.js';

export const GRPC_GO = '1.85.0';
export const GRPC_JAVA = { implementation: 'grpc-java', version: '1.85.1' } as const;
const PROGRAMS = join(dirname(fileURLToPath(import.meta.url)), '..', 'grpc-mtls');
/** The grpc-java client (stdin protocol of the matrix programs) and the xDS-enabled server. */
export const JAVA_CLIENT = join(PROGRAMS, 'java', 'MtlsEcho.java');
export const JAVA_SERVER = join(PROGRAMS, 'java', 'MtlsEchoServer.java');

const cacheDir = () => join(process.env.MESHCP_CACHE ?? join(homedir(), '.cache', 'meshcp'), 'grpc-mtls');

/** Builds the grpc-go program (client and xDS server) once per source and version (Go module proxy). */
export async function buildGoProgram(): Promise<string> {
  const program = join(PROGRAMS, 'go', 'main.go');
  const source = readFileSync(program);
  const stamp = createHash('sha256').update(source).update(GRPC_GO).digest('hex').slice(0, 16);
  const dir = join(cacheDir(), `grpc-go@${GRPC_GO}-${stamp}`);
  const binary = join(dir, 'grpcmtls');
  if (existsSync(binary)) return binary;
  const work = `${dir}.build-${process.pid}`;
  mkdirSync(work, { recursive: true });
  try {
    copyFileSync(program, join(work, 'main.go'));
    writeFileSync(join(work, 'go.mod'), 'module meshcp.io/grpcmtls\n\ngo 1.24\n');
    const go = (...args: string[]) => promisify(execFile)('go', args, { cwd: work, env: { ...process.env, CGO_ENABLED: '0' }, timeout: 10 * 60_000 });
    await go('get', `google.golang.org/grpc@v${GRPC_GO}`);
    await go('mod', 'tidy');
    const { stdout } = await go('list', '-m', 'google.golang.org/grpc');
    if (stdout.trim() !== `google.golang.org/grpc v${GRPC_GO}`) throw new Error(`built against ${stdout.trim()}, not ${GRPC_GO}`);
    await go('build', '-trimpath', '-o', 'grpcmtls', '.');
    rmSync(dir, { recursive: true, force: true });
    renameSync(work, dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return binary;
}

/**
 * Compiles one grpc-java program against the matrix's grpc-java libraries (Maven Central,
 * cached by installClient); returns its launcher. Cached per source and library directory.
 */
export async function buildJavaProgram(program: string): Promise<string> {
  const matrixLauncher = await installClient(GRPC_JAVA);
  const lib = join(dirname(matrixLauncher), 'lib');
  const stamp = createHash('sha256').update(readFileSync(program)).update(lib).digest('hex').slice(0, 16);
  const dir = join(cacheDir(), `grpc-java@${GRPC_JAVA.version}-${stamp}`);
  const launcher = join(dir, 'run');
  if (existsSync(launcher)) return launcher;
  const work = `${dir}.build-${process.pid}`;
  mkdirSync(join(work, 'classes'), { recursive: true });
  try {
    await promisify(execFile)('javac', ['-nowarn', '-d', join(work, 'classes'), '-cp', `${lib}/*`, program], { timeout: 5 * 60_000 });
    const mainClass = basename(program, '.java');
    writeFileSync(join(work, 'run'), `#!/bin/sh\nexec java -XX:TieredStopAtLevel=1 -Xss512k -cp "${dir}/classes:${lib}/*" ${mainClass} "$@"\n`, {
      mode: 0o755,
    });
    rmSync(dir, { recursive: true, force: true });
    renameSync(work, dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return launcher;
}

/** A STRICT gRPC service whose one endpoint is 127.0.0.1:port (the xDS-enabled server under test). */
export function strictService(port: number): string {
  return `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: echo, namespace: shop}
spec:
  serviceAccount: echo
  mtls: {mode: STRICT}
  ports: [{name: grpc, port: 50051, protocol: GRPC}]
  endpoints: [{address: 127.0.0.1, port: ${port}, locality: {region: eu, zone: eu-1a}}]
`;
}

/** gRFC A41: only shop/web may call echo. */
export const ONLY_WEB = `apiVersion: meshcp.io/v1alpha1
kind: MeshAccessPolicy
metadata: {name: echo-callers, namespace: shop}
spec:
  targetRef: {kind: MeshService, name: echo}
  rules:
    - from: [{serviceAccounts: [shop/web]}]
`;

export interface Proxy {
  nodeId: string;
  clientKind: string;
  profile: string;
  profileWarnings: string[];
  degraded: string[];
  types: Record<string, { short: string; status: string }>;
}

/** The connected proxies as /debug/proxies lists them. */
export async function proxies(adminPort: number): Promise<Proxy[]> {
  return ((await (await fetch(`http://127.0.0.1:${adminPort}/debug/proxies`)).json()) as { proxies: Proxy[] }).proxies;
}

/** A workload's certificate files (written by `meshcp agent`) and its gRPC bootstrap (to the secure meshcp). */
export interface AgentWorkload {
  certificateDir: string;
  bootstrap: string;
}

/**
 * Runs `meshcp agent` for one workload of shop, authenticated with the workload's client
 * certificate; resolves when it wrote the files, with a bootstrap naming them (node `SA-1`).
 */
export async function startAgent(meshcp: SecureMeshcp, dir: string, serviceAccount: string, cleanup: Cleanup): Promise<AgentWorkload> {
  const credentials = await meshcp.identity('shop', serviceAccount);
  const certificateDir = join(dir, `certs-${serviceAccount}`);
  const agent = startProcess(
    process.execPath,
    [
      MESHCP_BIN,
      'agent',
      ...['--xds-address', `127.0.0.1:${meshcp.xdsPort}`, '--xds-ca', credentials.caFile],
      ...['--client-cert', credentials.certFile as string, '--client-key', credentials.keyFile as string],
      ...['--node-id', `${serviceAccount}-agent`, '--namespace', 'shop', '--service-account', serviceAccount, '--out', certificateDir],
    ],
    cleanup,
  );
  // Generous: a loaded CI host starts Node processes slowly. The agent's own output says why if it never writes.
  await waitFor(`meshcp agent writes ${certificateDir}`, () => existsSync(join(certificateDir, 'cert.pem')), 60_000).catch((error: Error) => {
    throw new Error(`${error.message}; agent output: ${agent.output().slice(-800)}`);
  });
  const bootstrap = join(dir, `${serviceAccount}.json`);
  writeFileSync(
    bootstrap,
    JSON.stringify(
      grpcBootstrap({
        nodeId: `${serviceAccount}-1`,
        service: serviceAccount,
        namespace: 'shop',
        serviceAccount,
        xdsAddress: `127.0.0.1:${meshcp.xdsPort}`,
        security: credentials,
        workloadCertificateDir: certificateDir,
      }),
    ),
  );
  return { certificateDir, bootstrap };
}

/** One Echo/Who call straight to a server address (no xDS) with these credentials: the error it ends with, or null. */
export function directWhoCall(address: string, credentials: grpc.ChannelCredentials, cleanup: Cleanup): Promise<grpc.ServiceError | null> {
  const client = new grpc.Client(address, credentials);
  cleanup.add(() => client.close());
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      '/meshcp.test.Echo/Who',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
      { deadline: Date.now() + 5000 },
      (error) => resolve(error),
    ),
  );
}
