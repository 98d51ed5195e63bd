/** Helpers shared by scenario files (not a scenario: the leading `_` keeps the registry out). */

import assert from 'node:assert/strict';
import type { CellContext, EnvoyHandle } from '../scenario.js';
import { meshYaml, mtlsServiceYaml, splitRouteYaml } from '../support/mesh.js';
import { freePort } from '../support/net.js';
import type { Upstream } from '../support/upstream.js';

export { assert };

/** Every host spelling a sidecar routes for a Service `name` in namespace shop, port 8080. */
export const HOSTS = (name: string) => [name, `${name}.shop`, `${name}.shop:8080`, `${name}.shop.svc.cluster.local`, `${name}.shop.svc.cluster.local:8080`];

/** The usual two-service mesh: payments (one or more upstreams), payments-v2, and optionally a /v2 split. */
export function paymentsMesh(payments: Upstream[], v2: Upstream | undefined, split?: { v2: number; v1: number }): string {
  const services = [{ name: 'payments', endpoints: payments.map((u) => ({ port: u.port })) }];
  if (v2) services.push({ name: 'payments-v2', endpoints: [{ port: v2.port }] });
  const route = split
    ? splitRouteYaml('payments', '/v2', [
        { name: 'payments-v2', weight: split.v2 },
        { name: 'payments', weight: split.v1 },
      ])
    : '';
  return meshYaml(services, route);
}

/** Asserts one request's answer. */
export async function expectAnswer(cell: CellContext, host: string, path: string, status: number, body?: string): Promise<void> {
  const got = await cell.envoy.request(host, path);
  assert.equal(
    got.status,
    status,
    `GET ${host}${path}: expected HTTP ${status}${body ? ` from ${body}` : ''}, got HTTP ${got.status} "${got.body.slice(0, 100)}"`,
  );
  if (body !== undefined) assert.equal(got.body, body, `GET ${host}${path}: expected ${body} to answer, got "${got.body.slice(0, 100)}"`);
}

/** Asserts background traffic saw no failure at all. */
export function expectNoFailures(what: string, result: { sent: number; ok: number; failed: number; failures: Record<string, number> }, atLeast = 20): void {
  assert.equal(result.failed, 0, `${what}: ${result.failed} of ${result.sent} requests failed: ${JSON.stringify(result.failures)}`);
  assert.ok(result.ok >= atLeast, `${what}: only ${result.ok} requests went through (expected at least ${atLeast})`);
}

/** The SPIFFE ID of a service account of namespace shop in the cell's trust domain. */
export const SPIFFE = (serviceAccount: string) => `spiffe://cluster.local/ns/shop/sa/${serviceAccount}`;

/** Sum of the Envoy stats whose name matches `pattern` (e.g. every listener's ssl.handshake). */
export async function statSum(envoy: EnvoyHandle, pattern: RegExp): Promise<number> {
  const text = await envoy.admin('/stats');
  return [...text.matchAll(new RegExp(`^${pattern.source}: (\\d+)$`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0);
}

/** TLS handshakes on the service sidecar's inbound listener (named after its address). */
export const inboundHandshakes = (sidecar: EnvoyHandle, inboundPort: number) =>
  statSum(sidecar, new RegExp(`listener\\.127\\.0\\.0\\.1_${inboundPort}\\.ssl\\.handshake`));
/** TLS handshakes of the caller's cluster for payments (the stat name spells the cluster payments.shop:8080 with `:` or `_`). */
export const clusterHandshakes = (envoy: EnvoyHandle) => statSum(envoy, /cluster\.payments\.shop[:_]8080\.ssl\.handshake/);

/**
 * The service side of an mTLS scenario: an app (an upstream answering `payments-app`),
 * the mesh with the payments service in `mode` (plus `extra` YAML), the cell's Envoy as
 * the caller (ns/shop/sa/compat-client) and a second Envoy as payments' own sidecar
 * (ns/shop/sa/payments) whose inbound listener fronts the app.
 */
export async function startMtlsCell(
  cell: CellContext,
  mode: 'STRICT' | 'PERMISSIVE',
  options: { extra?: string; svidTtlMs?: number } = {},
): Promise<{ app: Upstream; sidecar: EnvoyHandle; inboundPort: number }> {
  const app = await cell.upstream('payments-app');
  const inboundPort = await freePort();
  const mesh = `${mtlsServiceYaml('payments', 'payments', mode, inboundPort)}${options.extra ? `---\n${options.extra}` : ''}`;
  await cell.start({ mesh, ...(options.svidTtlMs ? { svidTtlMs: options.svidTtlMs } : {}) });
  const sidecar = await cell.sidecar({ name: 'payments', serviceAccount: 'payments', inboundPort, appPort: app.port });
  await cell.waitFor(
    'compat-client → payments through both sidecars',
    async () => (await cell.envoy.request('payments.shop').catch(() => undefined))?.body === 'payments-app',
    30_000,
    200,
  );
  return { app, sidecar, inboundPort };
}

/** The client certificate the app was told about (x-forwarded-client-cert of its latest request). */
export function lastXfcc(app: Upstream): string {
  return String(app.lastHeaders?.['x-forwarded-client-cert'] ?? '');
}
