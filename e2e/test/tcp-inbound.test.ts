/**
 * The listeners that do not route by Host, with real traffic through a real Envoy:
 * a TCP service port gets a tcp_proxy listener of its own (service port + the proxy's
 * `meshcp.tcp_port_offset`), and a sidecar with `meshcp.inbound_port` gets an inbound
 * listener in front of its own application.
 */
import { connect, createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup, type EnvoyProcess, freePort, httpGet, startEnvoy, startUpstream, type Upstream, waitFor } from '../src/harness.js';
import { startPlane } from '../src/plane.js';

/** A TCP server that answers every line with "<name>:<line>". */
async function startTcpEcho(name: string, cleanup: Cleanup): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setEncoding('utf8');
    socket.on('data', (data: string) => socket.write(`${name}:${data}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.add(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as { port: number }).port;
}

function tcpRoundTrip(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(line));
    socket.setEncoding('utf8');
    socket.setTimeout(3000, () => socket.destroy(new Error('timeout')));
    socket.on('data', (data: string) => {
      resolve(data);
      socket.end();
    });
    socket.on('error', reject);
  });
}

describe('TCP and inbound listeners on a real Envoy', () => {
  const cleanup = new Cleanup();
  let envoy: EnvoyProcess;
  let app: Upstream;
  let tcpServicePort: number;
  let offset: number;
  let inboundPort: number;

  beforeAll(async () => {
    const echoPort = await startTcpEcho('pg', cleanup);
    app = await startUpstream('own-app', cleanup);
    // A service port whose local listener (port + offset) is free on this machine.
    const localPort = await freePort();
    tcpServicePort = 5432;
    offset = localPort - tcpServicePort;
    inboundPort = await freePort();
    const yaml = `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: postgres, namespace: data}
spec:
  ports: [{name: pg, port: ${tcpServicePort}, protocol: TCP}]
  endpoints: [{address: 127.0.0.1, port: ${echoPort}, locality: {region: eu, zone: eu-1a}}]
---
apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: web, namespace: shop}
spec:
  ports: [{name: http, port: 8080}]
  endpoints: [{address: 127.0.0.1, port: ${app.port}, locality: {region: eu, zone: eu-1a}}]
`;
    const test = await startPlane(yaml, cleanup);
    envoy = await startEnvoy(
      { xdsPort: test.plane.xdsPort, nodeId: 'tcp-inbound', service: 'web', namespace: 'shop', inboundPort, appPort: app.port, tcpPortOffset: offset },
      cleanup,
    );
  });

  afterAll(() => cleanup.run());

  it('proxies a TCP service through its own listener at service port + offset', async () => {
    const reply = await waitFor('a TCP round trip through Envoy', () => tcpRoundTrip(tcpServicePort + offset, 'hello\n').catch(() => undefined));
    expect(reply).toBe('pg:hello\n');
    // Envoy's own counter for the tcp_proxy (":" in the stat prefix becomes "_").
    const stats = await envoy.admin('/stats?filter=^tcp\\.');
    expect(stats).toMatch(/tcp\.tcp_postgres\.data_5432\.downstream_cx_total: [1-9]/);
  });

  it('forwards inbound traffic to the proxy’s own application', async () => {
    const before = app.requests;
    const reply = await waitFor('the inbound listener', async () => {
      const r = await httpGet(inboundPort, 'anything.example', '/from-outside').catch(() => undefined);
      return r?.status === 200 && r;
    });
    expect(reply.body).toBe('own-app');
    expect(app.requests).toBeGreaterThan(before);
    expect(app.paths.at(-1)).toBe('/from-outside');
  });
});
