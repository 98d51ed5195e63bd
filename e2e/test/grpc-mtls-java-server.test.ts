/**
 * A grpc-java xDS-enabled server (gRFC A36: XdsServerBuilder, XdsServerCredentials with a
 * plaintext fallback, grpc-java 1.85.1) under meshcp, called by real clients — the
 * capability rows security.serverMtls (A29) and server.rbac (A41) claim it:
 * - a grpc-go client calls it over mTLS; the server sees the client's SPIFFE ID and the
 *   client the server's; a plaintext caller is refused (STRICT), and so is a TLS caller
 *   with a self-signed certificate claiming shop/web's SPIFFE ID;
 * - a MeshAccessPolicy admitting only shop/web: web is admitted, shop/other refused
 *   PERMISSION_DENIED over the same mTLS;
 * - a grpc-java client calls it too (both ends grpc-java);
 * - the `meshcp agent`s are listed as client kind `agent`, never as Envoys.
 *
 * grpc-java 1.85 cannot show a client certificate to the xDS server (its bootstrap `tls`
 * channel credentials take no files: gRFC A65 is not in grpc-java), so the Java processes
 * take their xDS from a plaintext meshcp serving the same mesh; their workload
 * certificates are the files `meshcp agent` wrote from the secure meshcp's CA, which the
 * grpc-go clients (xDS over mTLS to the secure meshcp) trust.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { GrpcClientProcess } from '@meshcp/compat-matrix';
import { grpcBootstrap } from '@meshcp/translators';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup, freePort, MESHCP_BIN, type RunningProcess, type SecureMeshcp, startProcess, startSecureMeshcp, tempDir, waitFor } from '../src/harness.js';
import { startPlane, type TestPlane } from '../src/plane.js';
import {
  type AgentWorkload,
  buildGoProgram,
  buildJavaProgram,
  directWhoCall,
  JAVA_CLIENT,
  JAVA_SERVER,
  ONLY_WEB,
  proxies,
  startAgent,
  strictService,
} from './grpc-mtls-support.js';

const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
const ECHO = 'spiffe://cluster.local/ns/shop/sa/echo';

describe('a grpc-java xDS-enabled server under meshcp (gRFC A29 mTLS, A41 RBAC)', () => {
  const cleanup = new Cleanup();
  let dir: string;
  let goProgram: string;
  let serverPort: number;
  let plain: TestPlane;
  let server: RunningProcess;
  let meshcp: SecureMeshcp;
  const workloads: Record<string, AgentWorkload> = {};

  /** A bootstrap to the plaintext meshcp for a grpc-java process of `service`, with that workload's agent-written files. */
  function javaBootstrap(nodeId: string, service: string): string {
    const file = join(dir, `${nodeId}.json`);
    const workload = workloads[service] as AgentWorkload;
    writeFileSync(
      file,
      JSON.stringify(
        grpcBootstrap({
          nodeId,
          service,
          namespace: 'shop',
          serviceAccount: service,
          xdsAddress: `127.0.0.1:${plain.plane.xdsPort}`,
          workloadCertificateDir: workload.certificateDir,
        }),
      ),
    );
    return file;
  }

  beforeAll(async () => {
    dir = tempDir('grpc-mtls-java-server', cleanup);
    goProgram = await buildGoProgram();
    const javaServer = await buildJavaProgram(JAVA_SERVER);
    serverPort = await freePort();
    const mesh = `${strictService(serverPort)}---\n${ONLY_WEB}`;
    const file = join(dir, 'mesh.yaml');
    writeFileSync(file, mesh);
    meshcp = await startSecureMeshcp(file, cleanup);
    for (const serviceAccount of ['echo', 'web', 'other']) workloads[serviceAccount] = await startAgent(meshcp, dir, serviceAccount, cleanup);
    plain = await startPlane(mesh, cleanup);
    server = startProcess(javaServer, ['--port', String(serverPort), '--name', 'java-server'], cleanup, {
      ...process.env,
      GRPC_XDS_BOOTSTRAP: javaBootstrap('echo-java-server', 'echo'),
    });
    await waitFor(`the grpc-java xDS server serves`, () => server.output().includes('{"mode":"SERVING"}'), 60_000).catch((error: Error) => {
      throw new Error(`${error.message}; server output: ${server.output().slice(-1500)}`);
    });
  }, 10 * 60_000);

  afterAll(() => cleanup.run());

  it('a grpc-go client calls it over mTLS, each sees the other SPIFFE ID; a plaintext caller is refused', async () => {
    const client = new GrpcClientProcess(goProgram, 'xds:///echo.shop:50051', workloads.web?.bootstrap as string, join(dir, 'go-client.log'), cleanup);
    const results = await client.call(5, 10_000);
    expect(results.map((r) => r.backend ?? `${r.code}: ${r.message}`)).toEqual(Array(5).fill(`java-server saw ${WEB} | server ${ECHO}`));

    // STRICT: the server's Listener requires TLS with a client certificate, so a plaintext caller gets no RPC through.
    const refused = await directWhoCall(`127.0.0.1:${serverPort}`, grpc.credentials.createInsecure(), cleanup);
    expect(refused?.code).toBe(grpc.status.UNAVAILABLE);

    // The server took its Listener from meshcp as a grpc-java node with nothing degraded.
    const record = (await proxies(plain.plane.adminPort)).find((p) => p.nodeId === 'echo-java-server');
    expect(record?.clientKind).toBe('grpc-java');
    expect(record?.degraded).toEqual([]);
    expect(Object.values(record?.types ?? {}).find((t) => t.short === 'LDS')?.status).toBe('SYNCED');
  }, 120_000);

  it('a TLS caller showing a certificate the mesh CA did not issue (same SPIFFE ID as shop/web) is refused in the handshake', async () => {
    // A forged shop/web identity: self-signed, so it chains to no root of the server's trust bundle.
    const forged = join(dir, 'forged');
    await promisify(execFile)('openssl', [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'],
      ...['-keyout', `${forged}-key.pem`, '-out', `${forged}-cert.pem`, '-subj', '/O=attacker'],
      ...['-addext', `subjectAltName=URI:${WEB}`],
    ]);
    const credentials = grpc.credentials.createSsl(
      readFileSync(join(workloads.web?.certificateDir as string, 'ca.pem')),
      readFileSync(`${forged}-key.pem`),
      readFileSync(`${forged}-cert.pem`),
      // The server's certificate names a SPIFFE ID, not 127.0.0.1: the caller checks only the chain, as an attacker would.
      { checkServerIdentity: () => undefined },
    );
    const refused = await directWhoCall(`127.0.0.1:${serverPort}`, credentials, cleanup);
    expect(refused?.code).toBe(grpc.status.UNAVAILABLE);
    // The same call with the agent-written shop/web certificate gets through: the refusal was the forged chain.
    const genuine = new grpc.Client(
      `127.0.0.1:${serverPort}`,
      grpc.credentials.createSsl(
        readFileSync(join(workloads.web?.certificateDir as string, 'ca.pem')),
        readFileSync(join(workloads.web?.certificateDir as string, 'key.pem')),
        readFileSync(join(workloads.web?.certificateDir as string, 'cert.pem')),
        { checkServerIdentity: () => undefined },
      ),
    );
    cleanup.add(() => genuine.close());
    const admitted = await new Promise<{ error: grpc.ServiceError | null; reply?: Buffer }>((resolve) =>
      genuine.makeUnaryRequest(
        '/meshcp.test.Echo/Who',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        { deadline: Date.now() + 5000 },
        (error, reply) => resolve({ error, ...(reply ? { reply } : {}) }),
      ),
    );
    expect(admitted.error).toBeNull();
    expect(admitted.reply?.toString()).toContain(`java-server saw ${WEB}`);
  }, 60_000);

  it('MeshAccessPolicy on the grpc-java server (gRFC A41): shop/web is admitted, shop/other is refused PERMISSION_DENIED', async () => {
    const web = new GrpcClientProcess(goProgram, 'xds:///echo.shop:50051', workloads.web?.bootstrap as string, join(dir, 'rbac-web.log'), cleanup);
    const other = new GrpcClientProcess(goProgram, 'xds:///echo.shop:50051', workloads.other?.bootstrap as string, join(dir, 'rbac-other.log'), cleanup);
    const [admitted, refused] = await Promise.all([web.call(3, 10_000), other.call(3, 10_000)]);
    expect(admitted.map((r) => r.backend ?? `${r.code}: ${r.message}`)).toEqual(Array(3).fill(`java-server saw ${WEB} | server ${ECHO}`));
    // Refused by the RBAC filter after the handshake (the mTLS itself succeeded: other's certificate is the mesh's).
    expect(refused.map((r) => `${r.code}`)).toEqual(Array(3).fill(`${grpc.status.PERMISSION_DENIED}`));
  }, 120_000);

  it(
    'a grpc-java client calls the grpc-java server over mTLS (both ends grpc-java 1.85.1)',
    async () => {
      const launcher = await buildJavaProgram(JAVA_CLIENT);
      const client = new GrpcClientProcess(launcher, 'xds:///echo.shop:50051', javaBootstrap('web-java-client', 'web'), join(dir, 'java-client.log'), cleanup);
      const results = await client.call(3, 15_000);
      expect(results.map((r) => r.backend ?? `${r.code}: ${r.message}`)).toEqual(Array(3).fill(`java-server saw ${WEB}`));
    },
    5 * 60_000,
  );
  it('meshcp agent is listed as what it is: kind agent, SDS only, nothing degraded, never an out-of-date Envoy in status or metrics', async () => {
    const agents = (await proxies(meshcp.adminPort)).filter((p) => p.nodeId.endsWith('-agent'));
    expect(agents.map((p) => p.nodeId).sort()).toEqual(['echo-agent', 'other-agent', 'web-agent']);
    for (const agent of agents) {
      expect(agent.clientKind, agent.nodeId).toBe('agent');
      expect(agent.profile, agent.nodeId).toBe('agent-sds');
      expect(agent.profileWarnings, agent.nodeId).toEqual([]);
      expect(agent.degraded, agent.nodeId).toEqual([]);
      expect(
        Object.values(agent.types).map((t) => `${t.short} ${t.status}`),
        agent.nodeId,
      ).toEqual(['SDS SYNCED']);
    }
    // `meshcp status`: the agent's row names its profile and shows nothing degraded.
    const { stdout } = await promisify(execFile)(process.execPath, [MESHCP_BIN, 'status', '--admin-address', `127.0.0.1:${meshcp.adminPort}`]);
    const [header, ...rows] = stdout
      .trim()
      .split('\n')
      .map((line) => line.split(/\s{2,}/));
    const row = rows.find((r) => r[0] === 'web-agent');
    expect(row?.[header?.indexOf('PROFILE') ?? -1]).toBe('agent-sds');
    expect(row?.[header?.indexOf('SDS') ?? -1]).toBe('SYNCED');
    expect(row?.[header?.indexOf('DEGRADED') ?? -1]).toBe('-');
    // Fleet metrics: three agents, counted under their own kind; no Envoy (or unknown kind) at a fallback profile.
    const metrics = await (await fetch(`http://127.0.0.1:${meshcp.adminPort}/metrics`)).text();
    const proxyLines = metrics.split('\n').filter((line) => line.startsWith('meshcp_proxies{'));
    expect(proxyLines.filter((line) => line.includes('client_kind="agent"'))).toEqual([expect.stringMatching(/profile="agent-sds"\} 3$/)]);
    expect(proxyLines.filter((line) => /client_kind="(envoy|unknown)"/.test(line))).toEqual([]);
    expect(metrics).toMatch(/meshcp_proxies_degraded\{client_kind="agent"\} 0/);
  }, 60_000);
});
