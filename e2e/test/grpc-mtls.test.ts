/**
 * Proxyless gRPC mesh mTLS (gRFC A29) through meshcp, with real clients:
 * - a grpc-go client (and a grpc-java one) calls a grpc-go xDS-enabled server of a STRICT service; both
 *   take their certificates from the files `meshcp agent` writes (file_watcher
 *   provider in the `meshcp bootstrap --grpc --workload-cert-dir` bootstrap), and
 *   each sees the other's SPIFFE ID; a plaintext client to the same server fails;
 * - the agent rewrites the files on rotation, and the server keeps serving new
 *   connections after its first certificate expired (it reloaded the files);
 * - a @grpc/grpc-js-xds client (no A29) calling the STRICT service is listed
 *   degraded and its RPCs fail: never a plaintext path.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { GrpcClientProcess, installClient, startServer } from '@meshcp/compat-matrix';
import { grpcBootstrap } from '@meshcp/translators';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup, freePort, MESHCP_BIN, type SecureMeshcp, startProcess, startSecureMeshcp, startServiceSidecar, tempDir, waitFor } from '../src/harness.js';
import { startPlane } from '../src/plane.js';
import { buildGoProgram, buildJavaProgram, directWhoCall, GRPC_GO, JAVA_CLIENT, ONLY_WEB, proxies, startAgent, strictService } from './grpc-mtls-support.js';

const NODE = { implementation: 'grpc-js-xds', version: '1.14.1' } as const;
/** Short SVIDs so a rotation (at half life), the file_watcher re-read (every 10 s) and the first expiry happen within the test. */
const SVID_TTL_SECONDS = 30;

const PYTHON = { implementation: 'grpcio', version: '1.85.1' } as const;
const PYTHON_PROGRAM = join(dirname(fileURLToPath(import.meta.url)), '..', 'grpc-mtls', 'python', 'mtls_echo.py');

/** The grpcio client runs in the matrix's grpcio virtualenv (PyPI, cached); returns a launcher written into `dir`. */
async function pythonLauncher(dir: string): Promise<string> {
  const venv = join(dirname(await installClient(PYTHON)), 'venv');
  const launcher = join(dir, 'python-client');
  writeFileSync(launcher, `#!/bin/sh\nexec "${venv}/bin/python" -u "${PYTHON_PROGRAM}" "$@"\n`, { mode: 0o755 });
  return launcher;
}

/** A STRICT service behind an Envoy sidecar (inbound mTLS by `envoy/features/mtls.ts`), same identity as echo. */
function sidecarService(inboundPort: number): string {
  return `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: echo-sidecar, namespace: shop}
spec:
  serviceAccount: echo
  mtls: {mode: STRICT}
  ports: [{name: grpc, port: 50051, protocol: GRPC}]
  endpoints: [{address: 127.0.0.1, port: ${inboundPort}, locality: {region: eu, zone: eu-1a}}]
`;
}

const certificateOf = (dir: string) => new X509Certificate(readFileSync(join(dir, 'cert.pem')));

describe('proxyless gRPC mesh mTLS (gRFC A29) with meshcp agent', () => {
  const cleanup = new Cleanup();
  let meshcp: SecureMeshcp;
  let dir: string;
  let program: string;
  let serverPort: number;
  let sidecarInboundPort: number;
  const certificates: Record<string, string> = {};
  const bootstraps: Record<string, string> = {};

  /** `meshcp agent` for one workload; resolves with the directory it writes, once written (its bootstrap in `bootstraps`). */
  async function agentFor(serviceAccount: string): Promise<string> {
    const workload = await startAgent(meshcp, dir, serviceAccount, cleanup);
    bootstraps[serviceAccount] = workload.bootstrap;
    return workload.certificateDir;
  }

  beforeAll(async () => {
    dir = tempDir('grpc-mtls', cleanup);
    program = await buildGoProgram();
    serverPort = await freePort();
    const file = join(dir, 'mesh.yaml');
    sidecarInboundPort = await freePort();
    writeFileSync(file, `${strictService(serverPort)}---\n${ONLY_WEB}---\n${sidecarService(sidecarInboundPort)}`);
    meshcp = await startSecureMeshcp(file, cleanup, ['--svid-ttl-seconds', String(SVID_TTL_SECONDS)]);
    certificates.echo = await agentFor('echo');
    certificates.web = await agentFor('web');
    certificates.other = await agentFor('other');
    const server = startProcess(program, ['server', '--port', String(serverPort), '--name', 'go-server'], cleanup, {
      ...process.env,
      GRPC_XDS_BOOTSTRAP: bootstraps.echo,
    });
    await waitFor(`the xDS server serves (output: ${server.output().slice(-800)})`, () => server.output().includes('{"mode":"SERVING"}'), 30_000);
  }, 10 * 60_000);

  afterAll(() => cleanup.run());

  it('a grpc-go client calls a grpc-go xDS server over mTLS; each sees the other SPIFFE ID; plaintext is refused; rotation is picked up', async () => {
    const client = new GrpcClientProcess(program, 'xds:///echo.shop:50051', bootstraps.web as string, join(dir, 'go-client.log'), cleanup);
    const results = await client.call(5, 5000);
    expect(results.map((r) => r.backend ?? `${r.code}: ${r.message}`)).toEqual(
      Array(5).fill('go-server saw spiffe://cluster.local/ns/shop/sa/web | server spiffe://cluster.local/ns/shop/sa/echo'),
    );

    // The same server refuses a plaintext caller (STRICT: the Listener requires TLS with a client certificate).
    const refused = await directWhoCall(`127.0.0.1:${serverPort}`, grpc.credentials.createInsecure(), cleanup);
    expect(refused?.code).toBe(grpc.status.UNAVAILABLE);

    // Both gRPC workloads are SYNCED with nothing degraded.
    const seen = await proxies(meshcp.adminPort);
    for (const nodeId of ['echo-1', 'web-1']) {
      const proxy = seen.find((p) => p.nodeId === nodeId);
      expect(proxy?.clientKind, nodeId).toBe('grpc-go');
      expect(proxy?.degraded, nodeId).toEqual([]);
      for (const type of Object.values(proxy?.types ?? {})) expect(type.status, `${nodeId} ${type.short}`).toBe('SYNCED');
    }

    // Rotation: meshcp re-issues at half life and the agent rewrites the files…
    const first = { echo: certificateOf(certificates.echo as string), web: certificateOf(certificates.web as string) };
    await waitFor(
      'the agent rewrites the echo certificate after meshcp re-issued it',
      () => certificateOf(certificates.echo as string).serialNumber !== first.echo.serialNumber,
      SVID_TTL_SECONDS * 1000,
    );
    // …and once the first certificates expired, a new client (new connection) still gets
    // through: the server reloaded its files, or its handshake would present an expired certificate.
    const expiry = Math.max(Date.parse(first.echo.validTo), Date.parse(first.web.validTo));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiry - Date.now()) + 1500));
    const late = new GrpcClientProcess(program, 'xds:///echo.shop:50051', bootstraps.web as string, join(dir, 'go-client-late.log'), cleanup);
    const afterExpiry = await late.call(3, 5000);
    expect(afterExpiry.map((r) => r.backend ?? `${r.code}: ${r.message}`)).toEqual(
      Array(3).fill('go-server saw spiffe://cluster.local/ns/shop/sa/web | server spiffe://cluster.local/ns/shop/sa/echo'),
    );
    expect(certificateOf(certificates.echo as string).validTo).not.toBe(first.echo.validTo);
  }, 120_000);

  it('MeshAccessPolicy on the xDS server (gRFC A41): shop/web is admitted, shop/other is refused PERMISSION_DENIED over the same mTLS', async () => {
    const web = new GrpcClientProcess(program, 'xds:///echo.shop:50051', bootstraps.web as string, join(dir, 'rbac-web.log'), cleanup);
    const other = new GrpcClientProcess(program, 'xds:///echo.shop:50051', bootstraps.other as string, join(dir, 'rbac-other.log'), cleanup);
    const [admitted, refused] = await Promise.all([web.call(3, 5000), other.call(3, 5000)]);
    expect(admitted.map((r) => r.backend ?? `${r.code}: ${r.message}`)).toEqual(
      Array(3).fill('go-server saw spiffe://cluster.local/ns/shop/sa/web | server spiffe://cluster.local/ns/shop/sa/echo'),
    );
    expect(refused.map((r) => r.code)).toEqual(Array(3).fill(grpc.status.PERMISSION_DENIED));
  }, 120_000);

  it(
    'a grpc-go client and an Envoy sidecar of a STRICT service complete the mesh mTLS handshake (A29 client ↔ SDS sidecar)',
    async () => {
      // The app behind the sidecar is a plain grpc-go server (the matrix program); the sidecar terminates mTLS.
      const app = await startServer(await installClient({ implementation: 'grpc-go', version: GRPC_GO }), 'app-behind-sidecar', cleanup);
      const sidecar = await startServiceSidecar(
        meshcp,
        { service: 'echo-sidecar', serviceAccount: 'echo', inboundPort: sidecarInboundPort, appPort: app.port },
        cleanup,
      );
      const client = new GrpcClientProcess(program, 'xds:///echo-sidecar.shop:50051', bootstraps.web as string, join(dir, 'sidecar-client.log'), cleanup);
      const results = await client.call(5, 5000);
      const stats = new Map(
        (await sidecar.admin('/stats'))
          .split('\n')
          .map((line) => line.split(': '))
          .map(([name, value]) => [name, Number(value)]),
      );
      const inbound = `listener.127.0.0.1_${sidecarInboundPort}`;
      // The client showed its agent-written certificate and accepted the sidecar's (SAN …/sa/echo): a handshake, no failures.
      expect(stats.get(`${inbound}.ssl.handshake`)).toBeGreaterThanOrEqual(1);
      expect(stats.get(`${inbound}.ssl.no_certificate`) ?? 0).toBe(0);
      expect(stats.get(`${inbound}.ssl.connection_error`) ?? 0).toBe(0);
      expect(stats.get(`http.inbound_${sidecarInboundPort}.downstream_rq_http2_total`)).toBe(5);
      // Past the sidecar, its inbound cluster speaks HTTP/2 to the app (a GRPC port): every RPC reaches it.
      expect(results.map((r) => r.backend?.split(' ')[0] ?? `${r.code}: ${r.message}`)).toEqual(Array(5).fill('app-behind-sidecar'));
      expect(stats.get('cluster.inbound_50051.upstream_rq_200')).toBe(5);
    },
    5 * 60_000,
  );

  it(
    'a grpcio (C-core) client calls the grpc-go xDS server over mTLS, its xDS channel authenticated with a client certificate',
    async () => {
      // C-core takes certificate files for the xDS server (gRFC A65): it talks to the secure meshcp like the Go client.
      const client = new GrpcClientProcess(
        await pythonLauncher(dir),
        'xds:///echo.shop:50051',
        bootstraps.web as string,
        join(dir, 'python-client.log'),
        cleanup,
      );
      const results = await client.call(5, 10_000);
      expect(results.map((r) => r.backend ?? `${r.code}: ${r.message}`)).toEqual(Array(5).fill('go-server saw spiffe://cluster.local/ns/shop/sa/web'));
    },
    10 * 60_000,
  );

  it(
    'a grpc-java client calls the grpc-go xDS server over mTLS with the files meshcp agent wrote',
    async () => {
      // grpc-java 1.85 cannot show a client certificate to the xDS server (its bootstrap `tls`
      // channel credentials take no files: gRFC A65 is not in grpc-java), and token review needs
      // Kubernetes: its xDS channel goes to a plaintext meshcp serving the same mesh. Its
      // workload certificate is the one the agent wrote from the secure meshcp's CA.
      const launcher = await buildJavaProgram(JAVA_CLIENT);
      const plain = await startPlane(strictService(serverPort), cleanup);
      const bootstrap = join(dir, 'java-client.json');
      writeFileSync(
        bootstrap,
        JSON.stringify(
          grpcBootstrap({
            nodeId: 'java-client',
            service: 'web',
            namespace: 'shop',
            xdsAddress: `127.0.0.1:${plain.plane.xdsPort}`,
            workloadCertificateDir: certificates.web as string,
          }),
        ),
      );
      const client = new GrpcClientProcess(launcher, 'xds:///echo.shop:50051', bootstrap, join(dir, 'java-client.log'), cleanup);
      const results = await client.call(5, 10_000);
      expect(results.map((r) => r.backend ?? `${r.code}: ${r.message}`)).toEqual(Array(5).fill('go-server saw spiffe://cluster.local/ns/shop/sa/web'));
      const record = (await proxies(plain.plane.adminPort)).find((p) => p.nodeId === 'java-client');
      expect(record?.clientKind).toBe('grpc-java');
      expect(record?.degraded).toEqual([]);
    },
    10 * 60_000,
  );

  it(
    'a grpc-js-xds client (no A29) calling the STRICT service is listed degraded and its RPCs fail, never in plaintext',
    async () => {
      // grpc-js-xds has no TLS to the xDS server either (gRFC A65), so it talks to a plaintext meshcp serving the same mesh.
      const launcher = await installClient(NODE);
      // A plaintext server at the STRICT service's endpoint: had the client been given a plaintext path, it would answer.
      const plaintextServer = new grpc.Server();
      let plaintextCalls = 0;
      plaintextServer.register(
        '/meshcp.test.Echo/Who',
        (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => {
          plaintextCalls++;
          callback(null, Buffer.from([0x0a, 5, ...Buffer.from('plain')]));
        },
        (b: Buffer) => b,
        (b: Buffer) => b,
        'unary',
      );
      const trapPort = await freePort();
      await new Promise<void>((resolve, reject) =>
        plaintextServer.bindAsync(`127.0.0.1:${trapPort}`, grpc.ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())),
      );
      cleanup.add(() => new Promise<void>((resolve) => plaintextServer.tryShutdown(() => resolve())));
      const plain = await startPlane(strictService(trapPort), cleanup);
      const bootstrap = join(dir, 'node-client.json');
      writeFileSync(
        bootstrap,
        JSON.stringify(
          grpcBootstrap({
            nodeId: 'node-client',
            service: 'web',
            namespace: 'shop',
            region: 'eu',
            zone: 'eu-1a',
            xdsAddress: `127.0.0.1:${plain.plane.xdsPort}`,
          }),
        ),
      );
      const client = new GrpcClientProcess(launcher, 'xds:///echo.shop:50051', bootstrap, join(dir, 'node-client.log'), cleanup);
      const results = await client.call(3, 4000);
      expect(results.every((r) => !r.ok)).toBe(true);
      expect(plaintextCalls).toBe(0);
      const record = await waitFor('the grpc-js-xds client is connected', async () =>
        (await proxies(plain.plane.adminPort)).find((p) => p.nodeId === 'node-client'),
      );
      expect(record.clientKind).toBe('grpc-node');
      expect(record.degraded).toContain(
        'echo.shop:50051: mtls STRICT, cluster not sent so RPCs to it fail rather than go out in plaintext (grpc-node does not implement gRFC A29)',
      );
      // `meshcp status` shows it degraded, not only its types SYNCED.
      const { stdout } = await promisify(execFile)(process.execPath, [MESHCP_BIN, 'status', '--admin-address', `127.0.0.1:${plain.plane.adminPort}`]);
      const [header, ...rows] = stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/\s{2,}/));
      const row = rows.find((r) => r[0] === 'node-client');
      expect(row?.[header?.indexOf('DEGRADED') ?? -1]).toBe(`${record.degraded.length} (/debug/proxies)`);
    },
    10 * 60_000,
  );
});
