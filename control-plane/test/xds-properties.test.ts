/**
 * Property-based tests (fast-check), bounded in time: the request decoders never
 * throw anything but a clean Error whatever bytes arrive, and random request
 * sequences against the protocol state machines never break the protocol's rules.
 */
import {
  CLUSTER,
  type DecodedResponse,
  type DeltaDiscoveryRequestJson,
  type DiscoveryRequestJson,
  decodeDeltaDiscoveryRequest,
  decodeDiscoveryRequest,
  ENDPOINT,
  encodeDeltaDiscoveryRequest,
  encodeDiscoveryRequest,
  LISTENER,
  ROUTE,
} from '@meshcp/xds-protos';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Status } from '../src/xds/admission.js';
import { ENVOY_NODE, mesh, serviceYaml } from './fixtures.js';
import { MemoryServer, names } from './memory-stream.js';

/** A decoder may refuse input, but only with an Error carrying a short message. */
function assertCleanOutcome(decode: () => unknown): void {
  try {
    decode();
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    expect(typeof (error as Error).message).toBe('string');
    expect((error as Error).message.length).toBeLessThan(2000);
  }
}

const validSotw = encodeDiscoveryRequest({ node: ENVOY_NODE, type_url: ENDPOINT, resource_names: ['a.shop:8080', 'b'], response_nonce: '1-1' });
const validDelta = encodeDeltaDiscoveryRequest({
  node: ENVOY_NODE,
  type_url: CLUSTER,
  resource_names_subscribe: ['a'],
  initial_resource_versions: { a: 'v1' },
  error_detail: { code: 3, message: 'no' },
});

/** Arbitrary bytes, and valid requests with bytes flipped, cut or spliced in. */
const hostileBytes = fc.oneof(
  fc.uint8Array({ maxLength: 256 }),
  fc.tuple(fc.constantFrom(validSotw, validDelta), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat()).map(([base, at, value, cut]) => {
    const bytes = Uint8Array.from(base);
    bytes[at % bytes.length] = value;
    return bytes.subarray(0, base.length - (cut % 8));
  }),
  fc.tuple(fc.constantFrom(validSotw, validDelta), fc.uint8Array({ maxLength: 32 }), fc.nat()).map(([base, noise, at]) => {
    const split = at % base.length;
    return Uint8Array.from([...base.subarray(0, split), ...noise, ...base.subarray(split)]);
  }),
);

describe('request decoders on hostile bytes', () => {
  it('never throw anything but a clean Error, and never take long', () => {
    fc.assert(
      fc.property(hostileBytes, (bytes) => {
        const started = performance.now();
        assertCleanOutcome(() => decodeDiscoveryRequest(bytes));
        assertCleanOutcome(() => decodeDeltaDiscoveryRequest(bytes));
        // Generous: this is about hangs and blow-ups, on a loaded 2-core machine with GC pauses.
        expect(performance.now() - started).toBeLessThan(1000);
      }),
      { numRuns: 1000 },
    );
  });

  it('a session fed hostile bytes stays open or ends with INVALID_ARGUMENT / RESOURCE_EXHAUSTED, never throws', () => {
    const server = new MemoryServer({ maxResourceNames: 8 });
    server.cache.setModel(mesh(serviceYaml('a', [1001])));
    fc.assert(
      fc.property(fc.constantFrom('sotw' as const, 'delta' as const), fc.array(hostileBytes, { minLength: 1, maxLength: 4 }), (mode, messages) => {
        const stream = server.connect(mode);
        for (const bytes of messages) stream.sendRaw(bytes);
        if (stream.status) expect([Status.INVALID_ARGUMENT, Status.RESOURCE_EXHAUSTED]).toContain(stream.status.code);
        stream.close();
      }),
      { numRuns: 500 },
    );
  });

  it('decodes what the reflection encoder wrote, field for field', () => {
    const text = fc.string({ maxLength: 20 });
    fc.assert(
      fc.property(
        fc.record({ names: fc.array(text, { maxLength: 5 }), nonce: text, version: text, message: fc.option(text, { nil: undefined }) }),
        ({ names: list, nonce, version, message }) => {
          const request: DiscoveryRequestJson = {
            type_url: ENDPOINT,
            ...(list.length > 0 ? { resource_names: list } : {}),
            ...(nonce ? { response_nonce: nonce } : {}),
            ...(version ? { version_info: version } : {}),
            ...(message ? { error_detail: { code: 3, message } } : {}),
          };
          expect(decodeDiscoveryRequest(encodeDiscoveryRequest(request))).toEqual(request);
          const delta: DeltaDiscoveryRequestJson = {
            type_url: CLUSTER,
            ...(list.length > 0 ? { resource_names_subscribe: list, initial_resource_versions: Object.fromEntries(list.map((n) => [n, version])) } : {}),
            ...(nonce ? { response_nonce: nonce } : {}),
          };
          const decoded = decodeDeltaDiscoveryRequest(encodeDeltaDiscoveryRequest(delta));
          expect(decoded.resource_names_subscribe).toEqual(delta.resource_names_subscribe);
          expect(decoded.response_nonce).toEqual(delta.response_nonce);
        },
      ),
      { numRuns: 300 },
    );
  });
});

// Models the random sequences switch between: endpoints change, clusters come and go, a cluster's settings change.
const MODELS = [
  mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002])),
  mesh(serviceYaml('a', [1001, 1003]), serviceYaml('b', [1002])),
  mesh(serviceYaml('a', [1001])),
  mesh(serviceYaml('a', [1001]), serviceYaml('b', [1002]), serviceYaml('c', [1004])),
  mesh(
    serviceYaml('a', [1001]).replace('ports: [{name: http, port: 8080}]', 'ports: [{name: http, port: 8080}]\n  connectTimeout: 2s'),
    serviceYaml('c', [1004]),
  ),
];
const EDS_NAMES = ['a.shop:8080', 'b.shop:8080', 'c.shop:8080', 'never.shop:8080'];
const TYPES = [CLUSTER, ENDPOINT, LISTENER, ROUTE] as const;
type Type = (typeof TYPES)[number];

type Op =
  | { kind: 'model'; index: number }
  | { kind: 'ack' | 'nack'; type: Type }
  | { kind: 'stale'; type: Type; back: number }
  | { kind: 'subscribe'; names: string[] };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('model' as const), index: fc.nat({ max: MODELS.length - 1 }) }),
  fc.record({ kind: fc.constantFrom('ack' as const, 'nack' as const), type: fc.constantFrom(...TYPES) }),
  fc.record({ kind: fc.constant('stale' as const), type: fc.constantFrom(...TYPES), back: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ kind: fc.constant('subscribe' as const), names: fc.subarray(EDS_NAMES) }),
);

/** What the client knows of one type on its stream. */
interface ClientType {
  nonces: string[];
  unanswered: boolean;
  /** SotW LDS/CDS: set versions rejected; others: name → rejected versions (Delta) or contents (SotW). */
  rejected: Set<string>;
  /**
   * Resources (name@identity) of a NACKed response that carried several of a type the
   * client applies one by one (SotW EDS/RDS, any Delta type): not rejected, only suspect,
   * and re-sent alone to learn which one the client refuses.
   */
  suspects: Set<string>;
  lastResponse?: DecodedResponse;
}

function identityOf(mode: 'sotw' | 'delta', resource: Record<string, unknown>): string {
  const name = String(resource.name ?? resource.cluster_name);
  return mode === 'delta' ? `${name}@${String(resource.version)}` : `${name}@${JSON.stringify(resource)}`;
}

function runSequence(mode: 'sotw' | 'delta', ops: Op[]): void {
  const server = new MemoryServer();
  server.cache.setModel(MODELS[0] ?? mesh());
  const stream = server.connect(mode);
  const types = new Map<Type, ClientType>(TYPES.map((t) => [t, { nonces: [], unanswered: false, rejected: new Set(), suspects: new Set() }]));
  let edsNames = ['a.shop:8080', 'b.shop:8080'];
  const everSeenOrAsked = new Set<string>(edsNames);
  const routeNames = ['outbound:15001'];

  /** The client stops holding `name` (unsubscribed, dropped, removed): asked for again, it may be sent any version. */
  const forgetRejections = (state: ClientType, name: string) => {
    for (const rejected of state.rejected) if (rejected.startsWith(`${name}@`)) state.rejected.delete(rejected);
    for (const suspect of state.suspects) if (suspect.startsWith(`${name}@`)) state.suspects.delete(suspect);
  };
  const namesFor = (type: Type) => (type === ENDPOINT ? edsNames : type === ROUTE ? routeNames : undefined);
  /** Sends a request and checks every rule against the responses it caused. */
  const exchange = (request: DiscoveryRequestJson | DeltaDiscoveryRequestJson, expectSilence: boolean) => {
    stream.send(request);
    collect(expectSilence);
  };
  const collect = (expectSilence: boolean) => {
    expect(stream.status).toBeUndefined();
    const responses = stream.drain();
    if (expectSilence) expect(responses).toEqual([]);
    for (const response of responses) {
      const type = response.type_url as Type;
      const state = types.get(type);
      if (!state) throw new Error(`response for unexpected type ${response.type_url}`);
      // At most one unanswered response per type.
      expect(state.unanswered, `a second ${type} response before the first was answered`).toBe(false);
      // Never re-push what the client rejected until it has been sent something else in
      // its place (go-control-plane PR #794's loop); content the model returns to later
      // is a new push, not a loop.
      if (mode === 'sotw' && (type === CLUSTER || type === LISTENER)) {
        expect(state.rejected.has(String(response.version_info)), `${type} set ${response.version_info} re-sent after a NACK`).toBe(false);
        state.rejected.clear();
      } else
        for (const r of response.resources ?? []) {
          const identity = identityOf(mode, r);
          expect(state.rejected.has(identity), `${identity.slice(0, 60)} re-sent after a NACK`).toBe(false);
          // A suspect goes out alone, so the client's answer to it blames or clears exactly it.
          if (state.suspects.has(identity)) expect(response.resources?.length, `suspect ${identity.slice(0, 60)} re-sent with others`).toBe(1);
          const name = String(r.name ?? r.cluster_name);
          forgetRejections(state, name);
        }
      // No phantom removals: only names the client had or asked for.
      for (const name of response.removed_resources ?? []) if (type === ENDPOINT) expect(everSeenOrAsked.has(name), `phantom removal of ${name}`).toBe(true);
      // A removed resource is no longer held: what the client rejected of it may be sent again.
      for (const name of response.removed_resources ?? []) forgetRejections(state, name);
      for (const r of response.resources ?? []) everSeenOrAsked.add(String(r.name ?? r.cluster_name));
      expect(state.nonces).not.toContain(response.nonce);
      state.nonces.push(String(response.nonce));
      state.unanswered = true;
      state.lastResponse = response;
    }
  };
  const answer = (type: Type, nonce: string, error?: string) => {
    const list = namesFor(type);
    if (mode === 'sotw') {
      return {
        type_url: type,
        response_nonce: nonce,
        ...(list ? { resource_names: list } : {}),
        ...(error ? { error_detail: { code: 3, message: error } } : {}),
      };
    }
    return { type_url: type, response_nonce: nonce, ...(error ? { error_detail: { code: 3, message: error } } : {}) };
  };

  exchange({ node: ENVOY_NODE, type_url: CLUSTER }, false);
  for (const type of [ENDPOINT, LISTENER, ROUTE] as const) {
    const list = namesFor(type);
    exchange(
      mode === 'sotw' ? { type_url: type, ...(list ? { resource_names: list } : {}) } : { type_url: type, ...(list ? { resource_names_subscribe: list } : {}) },
      false,
    );
  }

  for (const step of ops) {
    if (step.kind === 'model') {
      server.cache.setModel(MODELS[step.index] ?? mesh());
      collect(false);
      continue;
    }
    if (step.kind === 'subscribe') {
      const previous = edsNames;
      edsNames = step.names;
      const endpoints = types.get(ENDPOINT);
      if (endpoints) for (const name of previous) if (!edsNames.includes(name)) forgetRejections(endpoints, name);
      for (const name of edsNames) everSeenOrAsked.add(name);
      if (mode === 'sotw') exchange({ type_url: ENDPOINT, resource_names: edsNames }, false);
      else {
        const subscribe = edsNames.filter((n) => !previous.includes(n));
        const unsubscribe = previous.filter((n) => !edsNames.includes(n));
        exchange(
          {
            type_url: ENDPOINT,
            ...(subscribe.length ? { resource_names_subscribe: subscribe } : {}),
            ...(unsubscribe.length ? { resource_names_unsubscribe: unsubscribe } : {}),
          },
          false,
        );
      }
      continue;
    }
    const state = types.get(step.type);
    if (!state) continue;
    if (step.kind === 'stale') {
      const nonce = state.nonces[state.nonces.length - 1 - step.back];
      // A request answering an older response never causes a response.
      if (nonce) exchange(answer(step.type, nonce, 'stale'), true);
      continue;
    }
    const latest = state.lastResponse;
    if (!latest || !state.unanswered) continue;
    state.unanswered = false;
    if (step.kind === 'nack') {
      if (mode === 'sotw' && (step.type === CLUSTER || step.type === LISTENER)) state.rejected.add(String(latest.version_info));
      else {
        // Several resources the client applies one by one: which one it refused is not known, each is only a suspect.
        const blamed = (latest.resources ?? []).length <= 1 ? state.rejected : state.suspects;
        for (const r of latest.resources ?? []) {
          // A name unsubscribed since the response is not held: its rejection is not kept.
          if (step.type !== ENDPOINT || edsNames.includes(String(r.name ?? r.cluster_name))) blamed.add(identityOf(mode, r));
        }
      }
    }
    exchange(answer(step.type, String(latest.nonce), step.kind === 'nack' ? 'rejected by the property test' : undefined), false);
  }
  // Then the client ACKs whatever comes: every suspect is re-sent alone and cleared, none is left waiting.
  for (let round = 0; round < 50; round++) {
    const open = [...types.entries()].filter(([, state]) => state.unanswered && state.lastResponse);
    if (open.length === 0) break;
    for (const [type, state] of open) {
      state.unanswered = false;
      exchange(answer(type, String(state.lastResponse?.nonce)), false);
    }
  }
  for (const [type, state] of types) {
    expect(state.unanswered, `${type} still answering after 50 rounds of ACKs`).toBe(false);
    expect([...(stream.record?.types.get(type)?.suspects?.keys() ?? [])], `${type} suspects left after ACKing everything`).toEqual([]);
  }
  stream.close();
}

describe('protocol state machines under random request sequences', () => {
  for (const mode of ['sotw', 'delta'] as const) {
    it(`${mode}: one unanswered response per type, no response to a stale nonce, no NACKed version again, no phantom removal`, () => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 30 }), (ops) => runSequence(mode, ops)),
        { numRuns: 60 },
      );
    });
  }

  it('an ACK-only sequence converges: after the last change the client holds what the cache serves', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: MODELS.length - 1 }), { minLength: 1, maxLength: 8 }), (models) => {
        const server = new MemoryServer();
        server.cache.setModel(MODELS[0] ?? mesh());
        const stream = server.connect();
        let clusters: string[] = [];
        const settle = () => {
          for (let guard = 0; guard < 20; guard++) {
            const responses = stream.drain();
            if (responses.length === 0) return;
            for (const r of responses) {
              if (r.type_url === CLUSTER) clusters = names(r).sort();
              stream.ack(r, r.type_url === ENDPOINT ? ['*'] : undefined);
            }
          }
          throw new Error('responses never stopped');
        };
        stream.send({ node: ENVOY_NODE, type_url: CLUSTER });
        settle();
        for (const index of models) {
          server.cache.setModel(MODELS[index] ?? mesh());
          settle();
          const expected = [...(MODELS[index]?.services.values() ?? [])].map((s) => `${s.name}.${s.namespace}:8080`).sort();
          expect(clusters).toEqual(expected);
        }
      }),
      { numRuns: 40 },
    );
  });
});
