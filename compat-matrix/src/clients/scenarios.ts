/**
 * The client axis's rows: what every proxyless gRPC client must do through meshcp.
 * Expectations that depend on a capability row (retries, timeouts) are read from
 * the gRPC capability table for the client's implementation and version, so a
 * wrong row fails its cell.
 */
import { type GrpcProfile, grpcProfile, grpcSupports, parseVersion } from '@meshcp/translators';
import type { Backend } from './backend.js';
import { type ClientCell, ClientCellFailure, routeYaml, serviceYaml } from './cell.js';
import { codeName, describeRpc, type RpcResult } from './program.js';
import { type ClientTarget, IMPLEMENTATIONS } from './versions.js';

export interface ClientScenario {
  id: string;
  title: string;
  timeoutMs?: number;
  run(cell: ClientCell, expected: GrpcProfile): Promise<void>;
}

/** The profile the capability table gives this client: what the scenarios expect it to honour. */
export function expectedProfile(target: ClientTarget): GrpcProfile {
  const { clientKind } = IMPLEMENTATIONS[target.implementation];
  const version = parseVersion(target.version);
  return grpcProfile({ clientKind: clientKind as `grpc-${string}`, versionText: target.version, ...(version ? { version } : {}) });
}

function fail(message: string): never {
  throw new ClientCellFailure(message);
}

const SPLIT_RPCS = 400;
/** v2's share of a 75/25 split must land within 25 % ± 7 points (over 3 standard deviations at 400 RPCs). */
const SPLIT_TOLERANCE = 0.07;

function splitRule(v1: number, v2: number): string {
  return `    - matches: [{path: {type: PathPrefix, value: /meshcp.test.Echo}}]
      backendRefs: [{name: echo, port: 50051, weight: ${v1}}, {name: echo-v2, port: 50051, weight: ${v2}}]
`;
}

function mustAllSucceed(what: string, failures: { ok: boolean }[], all: number, first?: Parameters<typeof describeRpc>[0]): void {
  if (failures.length > 0) fail(`${what}: ${failures.length} of ${all} RPCs failed; first: ${first ? describeRpc(first) : ''}`);
}

export const CLIENT_SCENARIOS: readonly ClientScenario[] = [
  {
    id: 'grpc-resolve-connect',
    title: 'resolves xds:///echo.shop:50051 (LDS→RDS→CDS→EDS), connects, 20 RPCs succeed; meshcp shows it SYNCED with the profile its table gives',
    async run(cell, expected) {
      const v1 = await cell.backend('v1');
      await cell.start(serviceYaml({ name: 'echo', endpoints: [{ backend: v1 }] }));
      cell.note('firstRpcMs', await cell.firstSuccess());
      const { byBackend, failures, results } = await cell.tally(20);
      mustAllSucceed('after connecting', failures, 20, failures[0]);
      if (byBackend.get('v1') !== 20) fail(`expected 20 RPCs on v1, got ${JSON.stringify([...byBackend])}`);
      const view = await cell
        .waitFor('meshcp to show the client SYNCED', async () => {
          const views = await cell.proxies();
          return views.length > 0 && views.every((v) => Object.values(v.types).length === 4 && Object.values(v.types).every((t) => t.status === 'SYNCED'))
            ? views[0]
            : undefined;
        })
        .catch(async () => fail(`meshcp does not show every type SYNCED${await cell.statusLine()}`));
      cell.note('node', `${view.clientKind} ${view.version}`);
      cell.note('profile', view.profile);
      cell.note('streams', (await cell.proxies()).length);
      if (view.profile !== expected.name) fail(`meshcp gave the client profile ${view.profile}; its capability table says ${expected.name}`);
      if (view.degraded.length > 0) fail(`nothing asked is out of reach, yet meshcp lists degraded: ${view.degraded.join('; ')}`);
      cell.note('rpcMs', Math.round((results.reduce((s, r) => s + r.ms, 0) / results.length) * 100) / 100);
    },
  },
  {
    id: 'grpc-weighted-split',
    title: `HTTPRoute 75/25 split: v2's share of ${SPLIT_RPCS} RPCs within 25 % ± ${SPLIT_TOLERANCE * 100} points`,
    async run(cell) {
      const v1 = await cell.backend('v1');
      const v2 = await cell.backend('v2');
      await cell.start(
        `${serviceYaml({ name: 'echo', endpoints: [{ backend: v1 }] })}---\n${serviceYaml({ name: 'echo-v2', endpoints: [{ backend: v2 }] })}---\n${routeYaml(splitRule(75, 25))}`,
      );
      await cell.firstSuccess();
      const { byBackend, failures } = await cell.tally(SPLIT_RPCS);
      mustAllSucceed('during the split', failures, SPLIT_RPCS, failures[0]);
      const share = (byBackend.get('v2') ?? 0) / SPLIT_RPCS;
      cell.note('v2Share', Math.round(share * 1000) / 10);
      if (Math.abs(share - 0.25) > SPLIT_TOLERANCE)
        fail(`v2 got ${(share * 100).toFixed(1)} % of ${SPLIT_RPCS} RPCs; expected 25 % ± ${SPLIT_TOLERANCE * 100}`);
    },
  },
  {
    id: 'grpc-live-switch',
    title:
      'a split switched live from 100/0 to 0/100 moves every RPC to v2 without a failed RPC (a known client defect only with its own text, shown as degraded)',
    async run(cell, expected) {
      const v1 = await cell.backend('v1');
      const v2 = await cell.backend('v2');
      const mesh = (a: number, b: number) =>
        `${serviceYaml({ name: 'echo', endpoints: [{ backend: v1 }] })}---\n${serviceYaml({ name: 'echo-v2', endpoints: [{ backend: v2 }] })}---\n${routeYaml(splitRule(a, b))}`;
      await cell.start(mesh(100, 0));
      await cell.firstSuccess();
      const before = await cell.tally(20);
      if (before.byBackend.get('v1') !== 20) fail(`before the switch expected all 20 RPCs on v1, got ${JSON.stringify([...before.byBackend])}`);
      cell.writeMesh(mesh(0, 100));
      const started = Date.now();
      const failed: RpcResult[] = [];
      const switchMs = await cell.until(
        'every RPC on v2 after the switch',
        (r) => {
          if (!r.ok) failed.push(r);
          return r.ok && r.backend === 'v2';
        },
        15_000,
      );
      cell.note('switchMs', switchMs);
      cell.note('switchWallMs', Date.now() - started);
      if (failed.length === 0) return;
      // A known client defect (GRPC_DEFECTS) is tolerated only with its own text, and only where meshcp shows it as degraded.
      if (expected.defects.has('route.coldClusterSwitch') && failed.every((r) => /unknown cluster selected/.test(r.message ?? ''))) {
        const degraded = (await cell.proxies()).flatMap((v) => v.degraded);
        if (!degraded.some((d) => d.includes('unknown cluster selected')))
          fail(`${failed.length} RPC(s) failed during the switch (a known defect of this version) but meshcp does not list it as degraded`);
        cell.note('knownDefect', `${failed.length} RPC(s): ${describeRpc(failed[0] as RpcResult)}`);
        return;
      }
      fail(`${failed.length} RPC(s) failed during the switch; first: ${describeRpc(failed[0] as RpcResult)}`);
    },
  },
  {
    id: 'grpc-priority-failover',
    title: 'same-zone endpoint first; when it dies RPCs fail over to the other zone, and come back when it returns',
    timeoutMs: 90_000,
    async run(cell) {
      const near = await cell.backend('near');
      const far = await cell.backend('far');
      await cell.start(
        serviceYaml(
          {
            name: 'echo',
            endpoints: [
              { backend: near, zone: 'eu-1a' },
              { backend: far, zone: 'eu-1b' },
            ],
          },
          '  failover: {localityPriority: [zone, region]}\n',
        ),
      );
      await cell.firstSuccess();
      const before = await cell.tally(20);
      if (before.byBackend.get('near') !== 20)
        fail(`with both zones up expected all 20 RPCs on the same-zone endpoint, got ${JSON.stringify([...before.byBackend])}`);
      near.stop();
      cell.note('failoverMs', await cell.until('RPCs on the other zone after the same-zone endpoint died', (r) => r.ok && r.backend === 'far', 20_000));
      await near.start();
      // gRPC reconnects with exponential backoff (1 s, ×1.6, jittered), then prefers priority 0 again.
      cell.note('failbackMs', await cell.until('RPCs back on the same zone after it returned', (r) => r.ok && r.backend === 'near', 45_000));
    },
  },
  {
    id: 'grpc-endpoint-removal',
    title: 'an endpoint removed from the MeshService (still running) gets no more RPCs',
    async run(cell) {
      const a = await cell.backend('a');
      const b = await cell.backend('b');
      await cell.start(serviceYaml({ name: 'echo', endpoints: [{ backend: a }, { backend: b }] }));
      await cell.firstSuccess();
      const both = await cell.tally(40);
      if (!both.byBackend.get('a') || !both.byBackend.get('b')) fail(`expected RPCs on both endpoints, got ${JSON.stringify([...both.byBackend])}`);
      cell.writeMesh(serviceYaml({ name: 'echo', endpoints: [{ backend: a }] }));
      cell.note('removalMs', await cell.until('every RPC on the remaining endpoint', (r) => r.ok && r.backend === 'a', 15_000, 40));
      const callsOnB = b.calls;
      const after = await cell.tally(40);
      mustAllSucceed('after the removal', after.failures, 40, after.failures[0]);
      if (b.calls !== callsOnB) fail(`the removed endpoint still got ${b.calls - callsOnB} RPCs`);
    },
  },
  {
    id: 'grpc-timeout',
    title: 'HTTPRoute timeouts.request 300ms: a 1.5 s RPC ends DEADLINE_EXCEEDED where the A31 row says supported, completes where not',
    async run(cell, expected) {
      const v1 = await cell.backend('v1');
      await cell.start(
        `${serviceYaml({ name: 'echo', endpoints: [{ backend: v1 }] })}---\n${routeYaml(`    - matches: [{path: {type: PathPrefix, value: /meshcp.test.Echo}}]
      timeouts: {request: 300ms}
      backendRefs: [{name: echo, port: 50051}]
`)}`,
      );
      await cell.firstSuccess();
      const slow = await cell.client.one(5000, 'sleep=1500');
      cell.note('slowRpc', `${describeRpc(slow)} in ${Math.round(slow.ms)} ms`);
      if (grpcSupports(expected, 'route.maxStreamDuration')) {
        if (slow.ok || codeName(slow.code) !== 'DEADLINE_EXCEEDED' || slow.ms > 1200)
          fail(`the A31 row says this client honours the route timeout, but the 1.5 s RPC ended ${describeRpc(slow)} after ${Math.round(slow.ms)} ms`);
      } else if (!slow.ok) fail(`the A31 row says this client ignores route timeouts, but the RPC ended ${describeRpc(slow)}`);
    },
  },
  {
    id: 'grpc-retry',
    title: 'HTTPRoute retry (3 attempts) over a failing and a healthy endpoint: every RPC succeeds where the A44 row says supported; about half fail where not',
    async run(cell, expected) {
      const bad = await cell.backend('bad', { fail: true });
      const good = await cell.backend('good');
      await cell.start(
        `${serviceYaml({ name: 'echo', endpoints: [{ backend: bad }, { backend: good }] })}---\n${routeYaml(`    - matches: [{path: {type: PathPrefix, value: /meshcp.test.Echo}}]
      retry: {attempts: 3, codes: [503]}
      backendRefs: [{name: echo, port: 50051}]
`)}`,
      );
      await cell.firstSuccess();
      const { failures } = await cell.tally(100);
      cell.note('failed', `${failures.length} of 100`);
      if (grpcSupports(expected, 'route.retryPolicy')) {
        if (failures.length > 0)
          fail(`the A44 row says this client retries, but ${failures.length} of 100 RPCs failed; first: ${describeRpc(failures[0] as never)}`);
      } else if (failures.length < 20) fail(`the A44 row says this client does not retry, but only ${failures.length} of 100 RPCs failed`);
    },
  },
  {
    id: 'grpc-nack',
    title:
      "a planted bad value (lb_policy MAGLEV) is NACKed: meshcp shows CDS NACKED with the client's own text, and RPCs keep working on the last good config",
    async run(cell) {
      const v1 = await cell.backend('v1');
      await cell.start(serviceYaml({ name: 'echo', endpoints: [{ backend: v1 }] }));
      await cell.firstSuccess();
      await cell.waitFor('CDS SYNCED before planting', async () =>
        (await cell.proxies()).some((v) => Object.values(v.types).some((t) => t.short === 'CDS' && t.status === 'SYNCED')),
      );
      // gRPC ignores unknown fields but NACKs unsupported values: MAGLEV is a value no gRPC client implements.
      cell.plane.cache.setResourceHook((typeUrl, list) => (typeUrl.endsWith('.Cluster') ? list.map((c) => ({ ...(c as object), lb_policy: 'MAGLEV' })) : list));
      const nack = await cell
        .waitFor(
          'the client to NACK CDS',
          async () => {
            for (const v of await cell.proxies())
              for (const t of Object.values(v.types)) if (t.short === 'CDS' && t.status === 'NACKED' && t.lastNack) return t.lastNack;
            return undefined;
          },
          20_000,
        )
        .catch(async () => fail(`no NACK recorded for the planted lb_policy${await cell.statusLine()}`));
      cell.note('nack', nack.error.slice(0, 300));
      const after = await cell.tally(20);
      mustAllSucceed('after the NACK (the last good config must keep serving)', after.failures, 20, after.failures[0]);
    },
  },
];

export function clientScenarios(ids?: string[]): ClientScenario[] {
  if (!ids || ids.length === 0) return [...CLIENT_SCENARIOS];
  const unknown = ids.filter((id) => !CLIENT_SCENARIOS.some((s) => s.id === id));
  if (unknown.length > 0) throw new Error(`unknown client scenario(s) ${unknown.join(', ')}; known: ${CLIENT_SCENARIOS.map((s) => s.id).join(', ')}`);
  return CLIENT_SCENARIOS.filter((s) => ids.includes(s.id));
}

export type { Backend };
