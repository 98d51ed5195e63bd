/**
 * Inputs that JavaScript and protobuf validation accept but Envoy refuses, NACKing the
 * one RouteConfiguration (every namespace's routes) or the cluster they sit in. Each
 * must be refused by meshcp with the file and field path, leaving the rest served.
 */
import { describe, expect, it } from 'vitest';
import { envoyBootstrap, MAX_DURATION_MS, type Manifest, parseManifests, RE2_MAX_PROGRAM_SIZE, re2Problem, re2ProgramSizeEstimate } from '../src/index.js';

const service = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'meshcp.io/v1alpha1',
  kind: 'MeshService',
  metadata: { namespace: 'shop', name },
  spec: { ports: [{ name: 'http', port: 80 }], endpoints: [{ address: '10.0.0.1' }], ...spec },
});
const route = (name: string, rule: Record<string, unknown>) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { namespace: 'shop', name },
  spec: { parentRefs: [{ name: 'web' }], rules: [{ backendRefs: [{ name: 'web', port: 80 }], ...rule }] },
});
const parse = (...docs: unknown[]) => parseManifests(docs.map((doc, i): Manifest => ({ source: 'mesh/routes.yaml', doc, document: i + 1 })));

/** One bad route beside a good one: the bad one's single error, and the good route and the service still served. */
function rejectRule(rule: Record<string, unknown>): { path: string; message: string } {
  const result = parse(service('web'), route('good', {}), route('bad', rule));
  expect(result.model.routes.map((r) => r.name)).toEqual(['good']);
  expect([...result.model.services.keys()]).toEqual(['shop/web']);
  expect(result.errors).toHaveLength(1);
  const [error] = result.errors;
  expect(error).toMatchObject({ source: 'mesh/routes.yaml', object: 'HTTPRoute shop/bad' });
  return { path: error?.path ?? '', message: error?.message ?? '' };
}

const pathRegex = (value: string) => ({ matches: [{ path: { type: 'RegularExpression', value } }] });

describe('regexes Envoy’s RE2 would refuse', () => {
  it('a repetition count above 1000 (RE2: "invalid repetition size")', () => {
    expect(rejectRule(pathRegex('/a{1001}'))).toEqual({
      path: 'spec.rules[0].matches[0].path.value',
      message: 'repetition count 1001 in "{1001}" is more than RE2\'s limit of 1000: "/a{1001}"',
    });
    expect(rejectRule(pathRegex('/a{2,1001}')).message).toContain('repetition count 1001');
  });

  it('nested counts whose product is above 1000, in a header match too', () => {
    const rule = { matches: [{ headers: [{ type: 'RegularExpression', name: 'x-id', value: '(?:(?:ab){10}){101}' }] }] };
    expect(rejectRule(rule)).toEqual({
      path: 'spec.rules[0].matches[0].headers[0].value',
      message: 'nested repetition counts multiply to 1010, more than RE2\'s limit of 1000: "(?:(?:ab){10}){101}"',
    });
    expect(re2Problem('(?:(?:ab){10}){100}')).toBeUndefined();
  });

  it('a program estimated above the limit Envoy is given', () => {
    const pattern = '/.{0,1000}.{0,1000}.{0,1000}.{0,1000}';
    expect(re2ProgramSizeEstimate(pattern)).toBeGreaterThan(RE2_MAX_PROGRAM_SIZE);
    const { path, message } = rejectRule(pathRegex(pattern));
    expect(path).toBe('spec.rules[0].matches[0].path.value');
    expect(message).toMatch(/^is too complex for Envoy's RE2: its compiled program is estimated at \d+ instructions, more than the limit of 32768/);
  });

  it('a pattern longer than 1024 characters', () => {
    expect(rejectRule(pathRegex(`/${'a'.repeat(1024)}`)).message).toMatch(/^must be at most 1024 characters, got 1025/);
  });

  it('syntax only JavaScript knows', () => {
    for (const [pattern, says] of [
      ['/\\u0041', '\\u escapes are JavaScript-only'],
      ['/\\cA', '\\c control escapes'],
      ['/[^]x', '[] and [^] mean different things'],
      ['/\\p{Letter}', 'one- and two-letter Unicode categories'],
      ['/(?<=a)b', 'lookahead and lookbehind'],
      ['/(a)\\1', 'backreferences'],
      ['/[\\b]', '\\b inside [...]'],
    ] as const) {
      expect(re2Problem(pattern) ?? rejectRule(pathRegex(pattern)).message, pattern).toContain(says);
    }
  });

  it('accepts what RE2 accepts: classes, categories, lazy loops, flags, 1000 repetitions', () => {
    for (const pattern of [
      '^/api/v[0-9]+/users/[a-z0-9-]{1,64}/items$',
      '/a{1000}',
      '/\\p{L}+/\\d*?',
      '(?i:/Users)/[^/]+',
      '/[\\x00-\\x7f\\-]{3,}',
      '/é|/日本',
    ])
      expect(re2Problem(pattern), pattern).toBeUndefined();
  });

  it('accepts RE2 spellings JavaScript lacks (a leading (?i), \\-, (?P<name>…), \\A and \\z), and reads escapes pairwise', () => {
    for (const pattern of ['(?i)^/docs', '^/v1\\-beta/.*', '(?P<id>\\d+)', '^/c\\++$', '\\A/abc\\z', '(?U)/a+', '/\\\\1', '/\\(?=x'])
      expect(parse(service('web'), route('r', pathRegex(pattern))).errors, pattern).toEqual([]);
    // Still refused: a possessive loop, a real backreference, a JavaScript-style named group.
    expect(rejectRule(pathRegex('/a++')).message).toContain('not a valid regular expression');
    expect(rejectRule(pathRegex('/(a)\\1')).message).toContain('backreferences');
    expect(rejectRule(pathRegex('/(?<id>a)')).message).toContain('use (?P<name>…)');
  });
});

describe('the RE2 checker under arbitrary patterns', () => {
  it('answers (never throws, never hangs) for every pattern JavaScript compiles, and its estimate grows with the pattern', () => {
    // Seeded xorshift: the same 20,000 patterns every run, drawn from regex metacharacters.
    let state = 2026;
    const next = () => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) / 4_294_967_296;
    };
    const alphabet = [
      'a',
      'é',
      '😀',
      '.',
      '*',
      '+',
      '?',
      '|',
      '(',
      ')',
      '(?:',
      '(?i:',
      '[',
      ']',
      '^',
      '$',
      '-',
      '{2}',
      '{1,3}',
      '{0,}',
      '\\d',
      '\\p{L}',
      '\\b',
      '\\x41',
      '/',
      '\\.',
    ];
    let compiled = 0;
    for (let i = 0; i < 20_000; i++) {
      const pattern = Array.from({ length: 1 + Math.floor(next() * 12) }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
      try {
        new RegExp(pattern, 'u');
      } catch {
        continue;
      }
      compiled++;
      const problem = re2Problem(pattern);
      expect(problem === undefined || typeof problem === 'string', pattern).toBe(true);
      if (problem === undefined) expect(re2ProgramSizeEstimate(`${pattern}a`), pattern).toBeGreaterThan(re2ProgramSizeEstimate(pattern));
    }
    expect(compiled).toBeGreaterThan(2000);
  });
});

describe('header modifiers Envoy would refuse', () => {
  const modifier = (type: 'RequestHeaderModifier' | 'ResponseHeaderModifier', body: Record<string, unknown>) => ({
    filters: [{ type, [type === 'RequestHeaderModifier' ? 'requestHeaderModifier' : 'responseHeaderModifier']: body }],
  });

  it('Host set, added or removed, in any case ("host headers may not be modified")', () => {
    expect(rejectRule(modifier('RequestHeaderModifier', { set: [{ name: 'Host', value: 'evil' }] }))).toEqual({
      path: 'spec.rules[0].filters[0].requestHeaderModifier.set[0].name',
      message: "the Host header cannot be set by a header modifier (Envoy refuses it); use a URLRewrite filter's hostname to change it",
    });
    expect(rejectRule(modifier('RequestHeaderModifier', { add: [{ name: 'HOST', value: 'evil' }] })).path).toBe(
      'spec.rules[0].filters[0].requestHeaderModifier.add[0].name',
    );
    expect(rejectRule(modifier('ResponseHeaderModifier', { remove: ['host'] })).path).toBe('spec.rules[0].filters[0].responseHeaderModifier.remove[0]');
  });

  it('pseudo-headers, on requests and responses ("may not be removed")', () => {
    expect(rejectRule(modifier('RequestHeaderModifier', { remove: [':path'] }))).toEqual({
      path: 'spec.rules[0].filters[0].requestHeaderModifier.remove[0]',
      message: 'pseudo-header ":path" cannot be removed by a header modifier (Envoy refuses it)',
    });
    expect(rejectRule(modifier('ResponseHeaderModifier', { set: [{ name: ':status', value: '200' }] }))).toEqual({
      path: 'spec.rules[0].filters[0].responseHeaderModifier.set[0].name',
      message: 'pseudo-header ":status" cannot be set by a header modifier (Envoy refuses it)',
    });
  });

  it('a remove entry that is no header name, and a value over 16 KiB', () => {
    expect(rejectRule(modifier('RequestHeaderModifier', { remove: ['bad name'] })).message).toBe('is not a valid header name: "bad name"');
    expect(rejectRule(modifier('RequestHeaderModifier', { add: [{ name: 'x-big', value: 'v'.repeat(16_385) }] }))).toEqual({
      path: 'spec.rules[0].filters[0].requestHeaderModifier.add[0].value',
      message: 'must be at most 16384 bytes',
    });
  });

  it('names that only look like Host are fine', () => {
    const result = parse(service('web'), route('ok', modifier('RequestHeaderModifier', { set: [{ name: 'X-Host', value: 'a' }], remove: ['Hostname'] })));
    expect(result.errors).toEqual([]);
  });
});

describe('durations and weights beyond what Envoy takes', () => {
  it('a timeout over 99999h, including one too large for a number', () => {
    expect(rejectRule({ timeouts: { request: '100000000h' } })).toEqual({
      path: 'spec.rules[0].timeouts.request',
      message: 'must be at most 99999h, got "100000000h"',
    });
    expect(rejectRule({ timeouts: { request: '99999999999999999999999h' } }).path).toBe('spec.rules[0].timeouts.request');
    expect(rejectRule({ retry: { backoff: '100000h' } }).path).toBe('spec.rules[0].retry.backoff');
    expect(parse(service('web'), route('ok', { timeouts: { request: '99999h' } })).errors).toEqual([]);
    expect(MAX_DURATION_MS).toBe(99_999 * 3_600_000);
  });

  it('every MeshService duration is bounded too, and the other services stay', () => {
    for (const [spec, path] of [
      [{ connectTimeout: '100000h' }, 'spec.connectTimeout'],
      [{ healthCheck: { interval: `1${'0'.repeat(400)}h` } }, 'spec.healthCheck.interval'],
      [{ healthCheck: { timeout: '6000000m' } }, 'spec.healthCheck.timeout'],
      [{ outlierDetection: { baseEjectionTime: '360000000s' } }, 'spec.outlierDetection.baseEjectionTime'],
    ] as const) {
      const result = parse(service('web'), service('slow', spec));
      expect([...result.model.services.keys()], path).toEqual(['shop/web']);
      expect(
        result.errors.map((e) => `${e.object} ${e.path}`),
        path,
      ).toEqual([`MeshService shop/slow ${path}`]);
    }
  });

  it('more than 16 backendRefs in a rule (Gateway API’s limit; 16 × 1,000,000 stays far below a uint32)', () => {
    const refs = Array.from({ length: 4296 }, () => ({ name: 'web', port: 80, weight: 1_000_000 }));
    expect(rejectRule({ backendRefs: refs })).toEqual({
      path: 'spec.rules[0].backendRefs',
      message: "must list at most 16 backends (Gateway API's limit), got 4296",
    });
    const sixteen = Array.from({ length: 16 }, () => ({ name: 'web', port: 80, weight: 1_000_000 }));
    expect(parse(service('web'), route('ok', { backendRefs: sixteen })).errors).toEqual([]);
  });
});

describe('other values Envoy’s proto validation refuses', () => {
  it('CR, LF or NUL in a rewritten or redirected path (prefix_rewrite, path_redirect)', () => {
    expect(rejectRule({ filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/a\nb' } } }] })).toEqual({
      path: 'spec.rules[0].filters[0].urlRewrite.path.replacePrefixMatch',
      message: 'must not contain NUL, CR or LF',
    });
    const redirect = {
      filters: [{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplaceFullPath', replaceFullPath: '/a\r\nb' } } }],
      backendRefs: [],
    };
    expect(rejectRule(redirect).path).toBe('spec.rules[0].filters[0].requestRedirect.path.replaceFullPath');
  });

  it('a query parameter name over 1024 bytes, a modifier header name over 16 KiB', () => {
    expect(rejectRule({ matches: [{ queryParams: [{ name: 'q'.repeat(1025), value: 'x' }] }] })).toEqual({
      path: 'spec.rules[0].matches[0].queryParams[0].name',
      message: 'must be at most 1024 bytes, got 1025',
    });
    const modifier = { filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'h'.repeat(16_385), value: 'x' }] } }] };
    expect(rejectRule(modifier).message).toBe('must be at most 16384 bytes, got 16385');
  });
});

describe('objects without a readable name', () => {
  it('are named by their document number (and line, when the source knows it)', () => {
    const result = parseManifests([
      { source: 'mesh/all.yaml', doc: service('web'), document: 1 },
      { source: 'mesh/all.yaml', doc: { apiVersion: 'meshcp.io/v1alpha1', kind: 'MeshService', metadata: { name: 'Bad_Name' } }, document: 2 },
      { source: 'mesh/all.yaml', doc: { kind: 'Widget' }, document: 3, line: 14 },
    ]);
    expect(result.errors.map((e) => [e.object, e.path])).toEqual([
      ['document 2', 'metadata.name'],
      ['document 3 (line 14)', 'kind'],
    ]);
    expect([...result.model.services.keys()]).toEqual(['shop/web']);
  });
});

describe('the bootstraps meshcp generates', () => {
  it('raise RE2’s program-size limit to the one regexes are checked against, under an admin layer', () => {
    const bootstrap = envoyBootstrap({ nodeId: 'n', service: 's', namespace: 'ns', xdsAddress: 'meshcp:18000', adminPort: 15000 });
    expect(bootstrap.layered_runtime).toEqual({
      layers: [
        { name: 'meshcp-static', static_layer: { 're2.max_program_size.error_level': RE2_MAX_PROGRAM_SIZE } },
        { name: 'admin', admin_layer: {} },
      ],
    });
  });
});
