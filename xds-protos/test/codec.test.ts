import { describe, expect, it } from 'vitest';
import {
  API_MINORS,
  CLUSTER,
  DELTA_REQUEST_FIELDS,
  DELTA_RESPONSE_FIELDS,
  DISCOVERY_REQUEST_FIELDS,
  DISCOVERY_RESPONSE_FIELDS,
  decodeDeltaDiscoveryRequest,
  decodeDeltaDiscoveryResponse,
  decodeDiscoveryRequest,
  decodeDiscoveryResponse,
  decodeToJson,
  encodeDeltaDiscoveryRequest,
  encodeDeltaResponse,
  encodeDiscoveryRequest,
  encodeJson,
  encodeResource,
  encodeSotwResponse,
  FieldPathError,
  loadEnvoyApi,
  RESOURCE_FIELDS,
  RUNTIME_MINOR,
  SetDigest,
  setVersion,
  validateResource,
} from '../src/index.js';

const api = loadEnvoyApi();
const CLUSTER_MESSAGE = 'envoy.config.cluster.v3.Cluster';

const cluster = {
  name: 'payments.shop:8080',
  type: 'EDS',
  eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
  connect_timeout: '0.250s',
  lb_policy: 'LEAST_REQUEST',
  typed_extension_protocol_options: {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      explicit_http_config: { http2_protocol_options: {} },
    },
  },
  metadata: { filter_metadata: { meshcp: { owner: 'shop', replicas: 3, tags: ['a', true, null] } } },
  per_connection_buffer_limit_bytes: 32768,
};

describe('proto3 JSON codec', () => {
  it('loads one descriptor set per Envoy API version', () => {
    expect(API_MINORS).toContain(RUNTIME_MINOR);
    expect(API_MINORS.length).toBeGreaterThanOrEqual(2);
  });

  it('round-trips Any, maps, Struct, Duration and wrappers', () => {
    const bytes = encodeJson(api, CLUSTER_MESSAGE, cluster);
    expect(decodeToJson(api, CLUSTER_MESSAGE, bytes)).toEqual({ ...cluster, connect_timeout: '0.25s' });
  });

  it('accepts lowerCamel JSON names too', () => {
    const bytes = encodeJson(api, CLUSTER_MESSAGE, { name: 'x', connectTimeout: '1s', lbPolicy: 'RANDOM' });
    expect(decodeToJson(api, CLUSTER_MESSAGE, bytes)).toEqual({ name: 'x', connect_timeout: '1s', lb_policy: 'RANDOM' });
  });

  it('rejects unknown fields, unknown enum values, unknown Any types and oneof conflicts with their path', () => {
    const attempt = (json: unknown) => {
      try {
        encodeJson(api, CLUSTER_MESSAGE, json);
        return undefined;
      } catch (error) {
        return error instanceof FieldPathError ? error.path : String(error);
      }
    };
    expect(attempt({ name: 'x', conect_timeout: '1s' })).toBe('conect_timeout');
    expect(attempt({ name: 'x', lb_policy: 'FASTEST' })).toBe('lb_policy');
    expect(attempt({ name: 'x', typed_extension_protocol_options: { k: { '@type': 'type.googleapis.com/no.such.Type' } } })).toBe(
      'typed_extension_protocol_options.k.@type',
    );
    expect(attempt({ name: 'x', type: 'EDS', cluster_type: { name: 'y' } })).toBe('cluster_type');
    expect(attempt({ name: 'x', connect_timeout: '5 seconds' })).toBe('connect_timeout');
  });

  it('content hashes are stable and order-independent for sets', () => {
    const a = encodeResource(api, CLUSTER, cluster);
    const b = encodeResource(api, CLUSTER, JSON.parse(JSON.stringify(cluster)));
    expect(a.version).toBe(b.version);
    expect(setVersion([a, { name: 'z', version: '1' }])).toBe(setVersion([{ name: 'z', version: '1' }, a]));
    expect(encodeResource(api, CLUSTER, { ...cluster, lb_policy: 'RANDOM' }).version).not.toBe(a.version);
  });
});

describe('hand-assembled discovery responses', () => {
  it('use the field numbers the descriptors declare', () => {
    const check = (message: string, fields: Record<string, number>) => {
      const type = api.lookupType(message);
      for (const [name, id] of Object.entries(fields)) expect(type.fields[name]?.id, `${message}.${name}`).toBe(id);
    };
    check('envoy.service.discovery.v3.DiscoveryResponse', DISCOVERY_RESPONSE_FIELDS);
    check('envoy.service.discovery.v3.DeltaDiscoveryResponse', DELTA_RESPONSE_FIELDS);
    check('envoy.service.discovery.v3.Resource', RESOURCE_FIELDS);
    check('envoy.service.discovery.v3.DiscoveryRequest', DISCOVERY_REQUEST_FIELDS);
    check('envoy.service.discovery.v3.DeltaDiscoveryRequest', DELTA_REQUEST_FIELDS);
  });

  it('decode as the protobuf library decodes them', () => {
    const resource = encodeResource(api, CLUSTER, cluster);
    const sotw = decodeDiscoveryResponse(encodeSotwResponse({ versionInfo: 'v1', typeUrl: CLUSTER, nonce: 'n1', resources: [resource, resource] }));
    expect(sotw).toMatchObject({ version_info: 'v1', type_url: CLUSTER, nonce: 'n1' });
    expect(sotw.resources).toHaveLength(2);
    expect(sotw.resources?.[0]).toMatchObject({ '@type': CLUSTER, name: 'payments.shop:8080' });
    const delta = decodeDeltaDiscoveryResponse(
      encodeDeltaResponse({ systemVersionInfo: 's', typeUrl: CLUSTER, nonce: 'n2', resources: [resource], removed: ['gone'] }),
    );
    expect(delta).toMatchObject({ system_version_info: 's', nonce: 'n2', removed_resources: ['gone'] });
    expect(delta.resources?.[0]).toMatchObject({
      name: 'payments.shop:8080',
      version: resource.version,
      resource: { '@type': CLUSTER, name: 'payments.shop:8080' },
    });
  });
});

describe('wire-level request decoding', () => {
  it('decodes what the protobuf library encodes, node included', () => {
    const sotw = {
      version_info: 'v',
      node: { id: 'n', metadata: { a: 1 }, locality: { zone: 'z' } },
      resource_names: ['a', 'b'],
      type_url: CLUSTER,
      response_nonce: '3',
      error_detail: { code: 3, message: 'bad' },
    };
    expect(decodeDiscoveryRequest(encodeDiscoveryRequest(sotw))).toEqual(sotw);
    const delta = {
      node: { id: 'n' },
      type_url: CLUSTER,
      resource_names_subscribe: ['a'],
      resource_names_unsubscribe: ['b'],
      initial_resource_versions: { a: '1', c: '2' },
      response_nonce: '4',
    };
    expect(decodeDeltaDiscoveryRequest(encodeDeltaDiscoveryRequest(delta))).toEqual(delta);
  });

  it('rejects garbage', () => {
    expect(() => decodeDiscoveryRequest(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]))).toThrow();
    expect(() => decodeDiscoveryRequest(Buffer.from([0x1d, 0, 0, 0, 0]))).toThrow(/wire type/);
  });

  describe('with a name count check', () => {
    const request = (names: string[], extra: object = {}) =>
      encodeDiscoveryRequest({ version_info: 'v', resource_names: names, type_url: CLUSTER, response_nonce: '1', ...extra });
    const counting = () => {
      const counted: number[] = [];
      return { counted, checkNameCount: (count: number) => void counted.push(count) };
    };

    it('decodes as without it', () => {
      for (const names of [['a', 'bé', 'c'.repeat(300)], [], ['only']]) {
        const check = counting();
        expect(decodeDiscoveryRequest(request(names), undefined, check)).toEqual(decodeDiscoveryRequest(request(names)));
        expect(check.counted).toEqual(names.length > 0 ? [names.length] : []);
      }
    });

    it('decodes names that are not one run of entries in their order', () => {
      // resource_names "a", then type_url, then resource_names "b": valid protobuf, written by no client we know.
      const tagged = (field: number, text: string) => Buffer.concat([Buffer.from([(field << 3) | 2, Buffer.byteLength(text)]), Buffer.from(text)]);
      const bytes = Buffer.concat([tagged(3, 'a'), tagged(4, CLUSTER), tagged(3, 'b'), tagged(3, 'c')]);
      const check = counting();
      expect(decodeDiscoveryRequest(bytes, undefined, check)).toEqual({ resource_names: ['a', 'b', 'c'], type_url: CLUSTER });
      expect(decodeDiscoveryRequest(bytes)).toEqual({ resource_names: ['a', 'b', 'c'], type_url: CLUSTER });
      expect(check.counted).toEqual([3]);
    });

    it('checks the count of names before it decodes one', () => {
      const bytes = request(['a', 'b', 'c']);
      expect(() =>
        decodeDiscoveryRequest(bytes, undefined, {
          checkNameCount: (count) => {
            throw new Error(`${count} names`);
          },
        }),
      ).toThrow('3 names');
      const counted: number[] = [];
      expect(decodeDiscoveryRequest(bytes, undefined, { checkNameCount: (count) => counted.push(count) }).resource_names).toEqual(['a', 'b', 'c']);
      expect(counted).toEqual([3]);
    });

    it('refuses too many names before finding the request malformed further on', () => {
      // Five names, then a field running past the end: the limit (4) is what it is refused for.
      const bytes = Buffer.from('1a01611a01621a01631a01641a01653208', 'hex');
      expect(() =>
        decodeDiscoveryRequest(bytes, undefined, {
          checkNameCount: (count) => {
            if (count > 4) throw new Error(`too many: ${count}`);
          },
        }),
      ).toThrow('too many: 5');
      expect(() => decodeDiscoveryRequest(bytes, undefined, { checkNameCount: () => undefined })).toThrow(/out of range/);
    });

    it('rejects any string running past the end, not only a name', () => {
      const nonce = Buffer.concat([Buffer.from([0x2a, 0x10]), Buffer.from('abc')]);
      expect(() => decodeDiscoveryRequest(nonce)).toThrow(/runs past the end/);
      expect(() => decodeDeltaDiscoveryRequest(Buffer.concat([Buffer.from([0x1a, 0x10]), Buffer.from('abc')]))).toThrow(/runs past the end/);
    });

    it('rejects a name running past the end, with or without it', () => {
      const truncated = Buffer.concat([Buffer.from([0x1a, 0x10]), Buffer.from('short')]);
      expect(() => decodeDiscoveryRequest(truncated)).toThrow(/runs past the end/);
      expect(() => decodeDiscoveryRequest(truncated, undefined, counting())).toThrow(/runs past the end/);
    });
  });
});

describe('set digest', () => {
  it('is order independent, updates incrementally, and matches a rebuild', () => {
    const a = new SetDigest();
    a.add('x', '1');
    a.add('y', '2');
    const b = new SetDigest();
    b.add('y', '2');
    b.add('x', '0');
    b.set('x', '1', '0');
    expect(a.toString()).toBe(b.toString());
    b.remove('y', '2');
    expect(b.toString()).not.toBe(a.toString());
  });
});

describe('PGV validation', () => {
  it('passes a valid cluster', () => {
    expect(validateResource(api, CLUSTER_MESSAGE, cluster)).toEqual([]);
  });

  it('reports broken rules with paths', () => {
    const issues = validateResource(api, CLUSTER_MESSAGE, {
      name: '',
      connect_timeout: '0s',
      load_assignment: {
        cluster_name: 'x',
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '1.2.3.4', port_value: 70000 } } } }] }],
      },
    });
    const paths = issues.map((i) => i.path);
    expect(paths).toContain('name');
    expect(paths).toContain('connect_timeout');
    expect(paths).toContain('load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value');
  });

  it('applies oneof-member rules only to the member that is set, and required oneofs', () => {
    const route = (match: Record<string, unknown>) => ({
      name: 'r',
      virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match, route: { cluster: 'c' } }] }],
    });
    expect(validateResource(api, 'envoy.config.route.v3.RouteConfiguration', route({ prefix: '/' }))).toEqual([]);
    const missing = validateResource(api, 'envoy.config.route.v3.RouteConfiguration', route({}));
    expect(missing.map((i) => i.path)).toContain('virtual_hosts[0].routes[0].match');
  });
});
