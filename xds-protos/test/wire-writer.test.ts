/**
 * The compiled writer (wire-writer.ts) against the generic path it replaces: for every
 * golden resource of every Envoy minor, and for seeded random mutations of them, the
 * bytes are the same, the errors are the same, and the PGV verdicts and issues are the
 * same. Also checks the writer really runs (does not silently fall back) on them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { apiMinorFor, type EnvoyApi, loadEnvoyApi } from '../src/descriptors.js';
import { encodeResource } from '../src/discovery.js';
import { encodeJson, encodeMessageGeneric } from '../src/json-codec.js';
import { Checker, compileFieldVerdict, validateResource } from '../src/pgv.js';
import { encodeFast } from '../src/wire-writer.js';

const GOLDENS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'translators', 'testdata', 'out');
const MESSAGE_OF: Record<string, string> = {
  listeners: 'envoy.config.listener.v3.Listener',
  routes: 'envoy.config.route.v3.RouteConfiguration',
  clusters: 'envoy.config.cluster.v3.Cluster',
  endpoints: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
};

interface Sample {
  label: string;
  api: EnvoyApi;
  messageName: string;
  json: unknown;
  fallsBack?: boolean;
}

function goldenSamples(): Sample[] {
  const samples: Sample[] = [];
  for (const client of readdirSync(GOLDENS)) {
    const api = loadEnvoyApi(/^\d+\.\d+$/.test(client) ? apiMinorFor(client) : undefined);
    for (const file of readdirSync(join(GOLDENS, client))) {
      const kind = file.split('.').at(-2) as string;
      const messageName = MESSAGE_OF[kind];
      if (!messageName) continue;
      const resources = (parse(readFileSync(join(GOLDENS, client, file), 'utf8')) ?? []) as unknown[];
      resources.forEach((json, i) => {
        samples.push({ label: `${client}/${file}[${i}]`, api, messageName, json });
      });
    }
  }
  return samples;
}

/** Shapes the goldens do not carry: well-known types, numbers as strings, bytes, maps, camelCase keys, a wrapper set to null. */
function handMadeSamples(): Sample[] {
  const api = loadEnvoyApi();
  const cluster = 'envoy.config.cluster.v3.Cluster';
  return [
    {
      label: 'cluster with metadata Struct, int64 strings, wrappers, durations',
      api,
      messageName: cluster,
      json: {
        name: 'c',
        type: 'EDS',
        connectTimeout: '1.500s',
        per_connection_buffer_limit_bytes: '32768',
        metadata: { filter_metadata: { 'envoy.lb': { canary: true, weight: 1.5, tags: ['a', null, { x: 'y' }], none: null } } },
        common_lb_config: { healthy_panic_threshold: { value: 0 }, update_merge_window: '-0.5s' },
        max_requests_per_connection: null,
        dns_refresh_rate: '5s',
        circuit_breakers: { thresholds: [{ priority: 1, max_connections: '100', max_retries: 3 }] },
        eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
        lb_policy: 2,
        dns_lookup_family: 'V4_ONLY',
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
            '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
            explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 7 } },
          },
        },
      },
    },
    {
      label: 'route configuration with an Any of a Struct, a timestamp-free Value and bytes',
      api,
      messageName: 'envoy.config.route.v3.RouteConfiguration',
      json: {
        name: 'r',
        virtual_hosts: [
          {
            name: 'vh',
            domains: ['*'],
            routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_bytes: 'aGVsbG8=' } } }],
            typed_per_filter_config: { 'x.y': { '@type': 'type.googleapis.com/google.protobuf.Struct', value: { a: 1 } } },
          },
        ],
        response_headers_to_remove: ['x-a', 'x-b'],
      },
    },
    {
      label: 'non-ASCII strings, bodies whose lengths take 2 and 3 bytes',
      api,
      messageName: 'envoy.config.route.v3.RouteConfiguration',
      json: {
        name: 'héllo wörld ✓ 🚀',
        virtual_hosts: [
          { name: 'long-'.repeat(40), domains: Array.from({ length: 3000 }, (_, i) => `host-${i}.example.com`) },
          { name: '€'.repeat(50), domains: ['a'], request_headers_to_add: [{ header: { key: 'k', value: 'vü' }, append_action: 0 }] },
        ],
        max_direct_response_body_size_bytes: 4096,
        request_mirror_policies: [{ cluster: 'm', runtime_fraction: { default_value: { numerator: 5, denominator: 'TEN_THOUSAND' } } }],
      },
    },
    {
      // The compiled readers take only own snake_case keys; these take the generic loop, with the same bytes.
      label: 'a field explicitly undefined, a message with an inherited field, an Any with @type',
      api,
      messageName: cluster,
      json: {
        name: 'c',
        type: 'EDS',
        load_assignment: undefined,
        eds_cluster_config: Object.assign(Object.create({ service_name: 'inherited, not read' }), { eds_config: { ads: {} } }),
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
            '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
            explicit_http_config: { http_protocol_options: {} },
          },
        },
      },
    },
    {
      label: 'lone surrogates',
      // protobufjs writes a short string's lone surrogate unlike Node's UTF-8: the generic path writes this one.
      fallsBack: true,
      api,
      messageName: 'envoy.config.route.v3.RouteConfiguration',
      json: { name: 'r', virtual_hosts: [{ name: `x\uD800y`, domains: ['*'], request_headers_to_add: [{ header: { key: 'k', value: 'v\uDC00' } }] }] },
    },
  ];
}

/** A deterministic PRNG (mulberry32): the mutations are the same on every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const REPLACEMENTS: unknown[] = ['', 'x', 0, -1, 1.5, '7', 'abc', true, false, null, {}, [], 2 ** 40, '9007199254740993', '1s', '-3s', 'AQID', [1, 2]];

/** Every (container, key) in a JSON tree. */
function slots(json: unknown, out: [Record<string, unknown> | unknown[], string | number][] = []): typeof out {
  if (Array.isArray(json)) {
    json.forEach((v, i) => {
      out.push([json, i]);
      slots(v, out);
    });
  } else if (typeof json === 'object' && json !== null) {
    for (const [k, v] of Object.entries(json)) {
      out.push([json as Record<string, unknown>, k]);
      slots(v, out);
    }
  }
  return out;
}

function mutate(json: unknown, random: () => number): unknown {
  const copy = structuredClone(json);
  const all = slots(copy);
  const mutations = 1 + Math.floor(random() * 3);
  for (let m = 0; m < mutations && all.length > 0; m++) {
    const [container, key] = all[Math.floor(random() * all.length)] as (typeof all)[number];
    const op = random();
    if (Array.isArray(container)) {
      if (op < 0.3) container.splice(key as number, 1);
      else if (op < 0.5) container.push(structuredClone(container[key as number]));
      else container[key as number] = REPLACEMENTS[Math.floor(random() * REPLACEMENTS.length)];
      continue;
    }
    const name = key as string;
    if (op < 0.25) delete container[name];
    else if (op < 0.35) container.bogus_field = 1;
    else if (op < 0.5) {
      // The lowerCamel spelling, sometimes next to the proto name.
      const camel = name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
      container[camel] = container[name];
      if (op < 0.45) delete container[name];
    } else if (op < 0.55 && name === '@type') container[name] = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
    else container[name] = REPLACEMENTS[Math.floor(random() * REPLACEMENTS.length)];
  }
  return copy;
}

type Outcome = { bytes: string } | { error: string };
function outcome(encode: () => Uint8Array): Outcome {
  try {
    return { bytes: Buffer.from(encode()).toString('hex') };
  } catch (error) {
    return { error: String(error) };
  }
}

function referenceIssues(sample: Sample) {
  const checker = new Checker(sample.api);
  checker.checkMessage(sample.api.lookupType(sample.messageName), sample.json, '');
  return checker.issues;
}

/** The compiled writer and the generic path agree on bytes, errors and PGV issues for `sample`. */
function expectSame(sample: Sample): void {
  const { api, messageName, json } = sample;
  const type = api.lookupType(messageName);
  const reference = outcome(() => encodeMessageGeneric(api, type, json, ''));
  expect(
    outcome(() => encodeJson(api, messageName, json)),
    sample.label,
  ).toEqual(reference);
  const fast = encodeFast(api, type, json, false);
  if (fast) expect({ bytes: Buffer.from(fast).toString('hex') }, sample.label).toEqual(reference);
  // The one pass of validateResource hands its bytes to the encode that follows.
  expect(validateResource(api, messageName, json), sample.label).toEqual(referenceIssues(sample));
  expect(
    outcome(() => encodeJson(api, messageName, json)),
    sample.label,
  ).toEqual(reference);
}

describe('compiled wire writer', () => {
  const samples = [...goldenSamples(), ...handMadeSamples()];

  it('has goldens to compare against', () => {
    expect(samples.length).toBeGreaterThan(500);
  });

  it('writes every golden resource as the generic path does, without falling back', () => {
    for (const sample of samples) {
      expectSame(sample);
      const type = sample.api.lookupType(sample.messageName);
      const fast = encodeFast(sample.api, type, sample.json, true);
      // The Any a response carries: the bytes protobufjs's Writer gives.
      const typeUrl = `type.googleapis.com/${sample.messageName}`;
      const resource = encodeResource(sample.api, typeUrl, sample.json as object);
      const any = protobuf.Writer.create().uint32(0x0a).string(typeUrl).uint32(0x12).bytes(resource.value).finish();
      expect(Buffer.from(resource.any).equals(Buffer.from(any)), `${sample.label} Any`).toBe(true);
      if (sample.fallsBack) expect(fast, `${sample.label} fell back`).toBeUndefined();
      else expect(fast, `${sample.label} took the fast path`).toBeInstanceOf(Uint8Array);
    }
  });

  it('agrees with the generic path on random mutations (bytes, errors, PGV issues)', () => {
    const random = prng(14);
    let fastAccepted = 0;
    let rejected = 0;
    for (let round = 0; round < 4; round++) {
      for (const sample of samples) {
        const mutated = { ...sample, label: `${sample.label} mutation ${round}`, json: mutate(sample.json, random) };
        expectSame(mutated);
        const type = mutated.api.lookupType(mutated.messageName);
        if (encodeFast(mutated.api, type, mutated.json, true)) fastAccepted++;
        if (referenceIssues(mutated).length > 0) rejected++;
      }
    }
    // The mutations exercise both sides: many still valid (fast path), many broken (issues or errors).
    expect(fastAccepted).toBeGreaterThan(samples.length / 2);
    expect(rejected).toBeGreaterThan(samples.length / 2);
  });

  it('leaves hidden and inherited fields to the generic loop, whatever the key count (review of the compiled readers)', () => {
    const api = loadEnvoyApi();
    const name = 'envoy.config.cluster.v3.Cluster';
    const type = api.lookupType(name);
    const hidden = (visible: object) => Object.defineProperty({ ...visible }, 'name', { value: 'c', enumerable: false });
    // A non-enumerable `name` next to an unknown key, or next to a lowerCamel one: the generic path decides.
    for (const json of [hidden({ bogus_key: 1 }), hidden({ connectTimeout: '1s' })]) {
      expectSame({ label: 'hidden field', api, messageName: name, json });
      const fast = encodeFast(api, type, json, true);
      if (fast) expect(Buffer.from(fast)).toEqual(Buffer.from(encodeMessageGeneric(api, type, json, '')));
    }
    expect(() => encodeJson(api, name, hidden({ bogus_key: 1 }))).toThrow(/bogus_key/);
    // An Any whose @type is not enumerable, next to an unknown key.
    const any = Object.defineProperty({ bogus: 1 }, '@type', {
      value: 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      enumerable: false,
    });
    const withAny = { name: 'c', typed_extension_protocol_options: { x: any } };
    expect(encodeFast(api, type, withAny, true)).toBeUndefined();
    // A field name planted on Object.prototype is not read as the message's own.
    Object.defineProperty(Object.prototype, 'alt_stat_name', { value: 'polluted', configurable: true });
    try {
      const json = { name: 'c', bogus: 1 };
      expect(encodeFast(api, type, json, true)).toBeUndefined();
      expect(() => encodeJson(api, name, json)).toThrow(/bogus/);
    } finally {
      delete (Object.prototype as Record<string, unknown>).alt_stat_name;
    }
  });

  it('leaves a oneof set twice to the generic path, which names it', () => {
    const api = loadEnvoyApi();
    const name = 'envoy.config.cluster.v3.Cluster';
    const json = { name: 'c', type: 'EDS', cluster_type: { name: 'envoy.clusters.aggregate' }, eds_cluster_config: { eds_config: { ads: {} } } };
    expect(encodeFast(api, api.lookupType(name), json, false)).toBeUndefined();
    expect(() => encodeJson(api, name, json)).toThrow(/oneof cluster_discovery_type already set/);
    expectSame({ label: 'oneof twice', api, messageName: name, json });
  });

  it('does not hand stale bytes to an encode of a different object', () => {
    const api = loadEnvoyApi();
    const name = 'envoy.config.cluster.v3.Cluster';
    const a = { name: 'a', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } };
    const b = { ...a, name: 'b' };
    expect(validateResource(api, name, a)).toEqual([]);
    expect(Buffer.from(encodeJson(api, name, b))).toEqual(Buffer.from(encodeMessageGeneric(api, api.lookupType(name), b, '')));
    expect(Buffer.from(encodeJson(api, name, a))).toEqual(Buffer.from(encodeMessageGeneric(api, api.lookupType(name), a, '')));
  });

  it("compiles every PGV field rule of the API to the checker's verdict, at and around each bound", () => {
    const api = loadEnvoyApi();
    let compared = 0;
    for (const [messageName, messageRules] of api.rules) {
      let type: ReturnType<EnvoyApi['lookupType']>;
      try {
        type = api.lookupType(messageName);
      } catch {
        continue;
      }
      for (const [fieldName, rules] of Object.entries(messageRules.fields ?? {})) {
        const field = type.fields[fieldName];
        if (!field) continue;
        const verdict = compileFieldVerdict(field, rules);
        for (const probe of probesFor(rules)) {
          const checker = new Checker(api);
          checker.checkFieldRules(field, rules, probe, 'p');
          expect(verdict(probe), `${messageName}.${fieldName} ${JSON.stringify(rules)} with ${JSON.stringify(probe)}`).toBe(checker.issues.length === 0);
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(10_000);
  });
});

/** Values at, just inside and just outside every bound a rule names, of every JSON shape. */
function probesFor(rules: unknown): unknown[] {
  const probes: unknown[] = [undefined, null, '', 'a', 0, -1, 1, 1.5, true, false, {}, [], ['a', 'a'], [''], ['x', 'y'], { k: '' }, { '': 'v' }];
  const visit = (node: unknown): void => {
    if (typeof node === 'number' || (typeof node === 'string' && /^-?\d+(\.\d+)?$/.test(node))) {
      const n = Number(node);
      for (const v of [n - 1, n, n + 1, n - 0.5])
        probes.push(
          v,
          String(v),
          'a'.repeat(Math.max(0, Math.min(v, 300)) | 0),
          '\u{1F680}'.repeat(Math.max(0, Math.min(v, 300)) | 0),
          Array.from({ length: Math.max(0, Math.min(v, 20)) | 0 }, (_, i) => `i${i}`),
        );
    } else if (typeof node === 'string') {
      probes.push(node, `${node}x`, `x${node}`, { '@type': node }, [node]);
      const duration = /^(-?\d+(?:\.\d+)?)s$/.exec(node);
      if (duration) {
        const seconds = Number(duration[1]);
        for (const v of [seconds - 0.001, seconds, seconds + 0.001, seconds + 1]) probes.push(`${Number(v.toFixed(3))}s`);
      }
    } else if (Array.isArray(node)) {
      for (const item of node) visit(item);
      probes.push(node);
    } else if (typeof node === 'object' && node !== null) {
      for (const value of Object.values(node)) visit(value);
    }
  };
  visit(rules);
  probes.push('bad\nvalue', ':path', 'Bad Header', '\u00e9t\u00e9');
  return probes;
}
