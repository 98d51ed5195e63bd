/** Helpers shared by scenario files (not a scenario: the leading `_` keeps the registry out). */
import assert from 'node:assert/strict';
import type { CellContext } from '../scenario.js';
import { meshYaml, splitRouteYaml } from '../support/mesh.js';
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
