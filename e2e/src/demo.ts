/**
 * The README's first command: meshcp on the embedded default (examples/mesh.yaml),
 * three upstream servers, one real Envoy sidecar, and live traffic through it.
 * Edit examples/mesh.yaml while it runs to see routing change. `--once` prints one
 * round and exits (used by the test that keeps this command working).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Cleanup, REPO_ROOT, startEnvoy, startSecureMeshcp, startUpstream, tally, type Upstream, waitFor } from './harness.js';

const once = process.argv.includes('--once');
const file = process.env.MESHCP_DEMO_FILE ?? join(REPO_ROOT, 'examples', 'mesh.yaml');

/** Upstream ports named in the example file, so the demo serves what the file says. */
function endpointPorts(path: string): number[] {
  const ports = new Set<number>();
  for (const doc of parseAllDocuments(readFileSync(path, 'utf8')) as { toJS(): unknown }[]) {
    const spec = (doc.toJS() as { kind?: string; spec?: { endpoints?: { port?: number }[] } }).spec;
    for (const endpoint of spec?.endpoints ?? []) if (endpoint.port) ports.add(endpoint.port);
  }
  return [...ports].sort();
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  const stop = async (code: number) => {
    await cleanup.run();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  try {
    const upstreams: Upstream[] = [];
    for (const port of endpointPorts(file)) upstreams.push(await startUpstream(`upstream:${port}`, cleanup, port));
    console.log(`upstreams listening on ${upstreams.map((u) => u.port).join(', ')}`);
    // Secure, as meshcp serves by default: TLS from its own CA; the sidecar shows an SVID issued for shop/web.
    const meshcp = await startSecureMeshcp(file, cleanup);
    console.log(`meshcp serving ${file}: xDS 127.0.0.1:${meshcp.xdsPort}, admin http://127.0.0.1:${meshcp.adminPort}/debug/proxies`);
    const envoy = await startEnvoy(
      {
        xdsPort: meshcp.xdsPort,
        nodeId: 'demo-sidecar',
        namespace: 'shop',
        serviceAccount: 'web',
        region: 'eu',
        zone: 'eu-1a',
        security: await meshcp.identity('shop', 'web'),
      },
      cleanup,
    );
    console.log(`Envoy sidecar (zone eu-1a) ready: outbound listener 127.0.0.1:${envoy.outboundPort}, admin http://127.0.0.1:${envoy.adminPort}`);
    await waitFor('the sidecar to route payments.shop', async () => (await envoy.request('payments.shop', '/')).status === 200);
    for (;;) {
      const rounds: [string, string][] = [
        ['payments.shop', '/'],
        ['payments.shop', '/v2/checkout'],
        ['payments-v2.shop', '/'],
      ];
      console.log(`\n${new Date().toISOString()} — 20 requests each through the sidecar:`);
      for (const [host, path] of rounds) {
        const counts = await tally(envoy, host, path, 20);
        const summary = [...counts.entries()].map(([k, n]) => `${k} ×${n}`).join(', ');
        console.log(`  Host ${host.padEnd(17)} ${path.padEnd(13)} → ${summary}`);
      }
      const { proxies } = (await (await meshcp.admin('/debug/proxies')).json()) as {
        proxies: { nodeId: string; version: string; profile: string; types: Record<string, { short: string; status: string }> }[];
      };
      for (const p of proxies)
        console.log(
          `  proxy ${p.nodeId} Envoy ${p.version} (${p.profile}): ${Object.values(p.types)
            .map((t) => `${t.short} ${t.status}`)
            .join(', ')}`,
        );
      if (once) break;
      console.log(`  (edit ${file} to change routing; Ctrl-C to stop)`);
      await new Promise((r) => setTimeout(r, 5000));
    }
    await stop(0);
  } catch (error) {
    console.error(`demo failed: ${(error as Error).message}`);
    await stop(1);
  }
}

await main();
