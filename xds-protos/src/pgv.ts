/**
 * protoc-gen-validate checking of proto3-JSON resources, from the `validate.rules`
 * the descriptors carry. Envoy runs the same rules on receipt and NACKs a resource
 * that breaks one; checking first means such a resource is never published.
 * Covers the rule kinds Envoy's xDS API uses; unknown rule kinds are ignored.
 */
import protobuf from 'protobufjs';
import type { EnvoyApi, FieldRules } from './descriptors.js';
import { camelCase, fullName } from './json-codec.js';
import { messageNameOf } from './type-urls.js';
import { encodeFast } from './wire-writer.js';

export interface ValidationIssue {
  path: string;
  message: string;
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function durationSeconds(text: unknown): number {
  if (typeof text === 'string' && text.endsWith('s')) return Number(text.slice(0, -1));
  if (isObject(text)) return Number(text.seconds ?? 0) + Number(text.nanos ?? 0) / 1e9;
  return Number.NaN;
}

const NUMBER_RULE_KINDS = ['uint32', 'uint64', 'int32', 'int64', 'double', 'float', 'fixed32', 'fixed64', 'sint32', 'sint64'] as const;

const HEADER_NAME = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
// Header values: no NUL, CR or LF (PGV's HTTP_HEADER_VALUE, strict mode).
const isHeaderValue = (s: string) => !s.includes('\0') && !s.includes('\n') && !s.includes('\r');

/** @internal also used by the compiled writer (wire-writer.ts), so both check alike. */
export class Checker {
  readonly issues: ValidationIssue[] = [];
  constructor(private readonly api: EnvoyApi) {}

  private report(path: string, message: string): void {
    this.issues.push({ path: path || '(root)', message });
  }

  checkMessage(type: protobuf.Type, json: unknown, path: string): void {
    if (!isObject(json)) return;
    const plan = planOf(this.api, type);
    if (plan.isAny) {
      const typeUrl = json['@type'];
      if (typeof typeUrl !== 'string') return;
      let packed: protobuf.Type;
      try {
        packed = this.api.lookupType(messageNameOf(typeUrl));
      } catch {
        return; // the codec reports unknown types
      }
      this.checkMessage(packed, json, path);
      return;
    }
    if (plan.disabled) return;
    for (const oneof of plan.requiredOneofs) {
      const set = oneof.fields.some((f) => fieldValue(json, f) !== undefined);
      if (!set) this.report(path, `one of ${oneof.fields.map((f) => f.name).join(', ')} is required`);
    }
    for (const f of plan.fields) {
      const value = fieldValue(json, f);
      if (value === undefined) {
        // Rules on a oneof member apply only when that member is the one set; an absent field without rules costs nothing more.
        if (f.rules && !f.oneofMember) this.checkFieldRules(f.field, f.rules, undefined, path ? `${path}.${f.name}` : f.name);
        continue;
      }
      const fieldPath = path ? `${path}.${f.name}` : f.name;
      if (f.rules) this.checkFieldRules(f.field, f.rules, value, fieldPath);
      const resolved = f.message;
      if (!resolved) continue;
      if (f.field.map && isObject(value)) {
        for (const [k, v] of Object.entries(value)) this.checkMessage(resolved, v, `${fieldPath}.${k}`);
      } else if (f.field.repeated && Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) this.checkMessage(resolved, value[i], `${fieldPath}[${i}]`);
      } else {
        this.checkMessage(resolved, value, fieldPath);
      }
    }
  }

  checkFieldRules(field: protobuf.Field, rules: FieldRules, value: unknown, path: string): void {
    if (rules.message?.required && value === undefined) this.report(path, 'is required');
    if (rules.duration?.required && value === undefined) this.report(path, 'is required');
    if (rules.any?.required && value === undefined) this.report(path, 'is required');
    if (rules.timestamp?.required && value === undefined) this.report(path, 'is required');
    if (value === undefined) {
      // proto3 scalars default to zero/empty: a min_len or gt rule still applies.
      if (!field.repeated && !field.map && !(field.resolvedType instanceof protobuf.Type)) {
        const implicit = field.type === 'string' ? '' : field.type === 'bool' ? false : field.resolvedType ? undefined : 0;
        if (implicit !== undefined) this.checkScalar(rules, implicit, path);
      } else if (rules.repeated?.min_items && Number(rules.repeated.min_items) > 0) {
        this.report(path, `needs at least ${rules.repeated.min_items} item(s)`);
      } else if (rules.map?.min_pairs && Number(rules.map.min_pairs) > 0) {
        this.report(path, `needs at least ${rules.map.min_pairs} entr(ies)`);
      }
      return;
    }
    if (field.map) {
      if (!isObject(value)) return;
      const pairs = Object.keys(value).length;
      if (rules.map?.min_pairs !== undefined && pairs < Number(rules.map.min_pairs)) {
        this.report(path, `needs at least ${rules.map.min_pairs} entr(ies), has ${pairs}`);
      }
      for (const [k, v] of Object.entries(value)) {
        if (rules.map?.keys) this.checkScalar(rules.map.keys, k, `${path}.${k}`);
        if (rules.map?.values) this.checkScalar(rules.map.values, v, `${path}.${k}`);
      }
      return;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) return;
      const r = rules.repeated;
      if (r?.min_items !== undefined && value.length < Number(r.min_items)) {
        this.report(path, `needs at least ${r.min_items} item(s), has ${value.length}`);
      }
      if (r?.max_items !== undefined && value.length > Number(r.max_items)) {
        this.report(path, `allows at most ${r.max_items} item(s), has ${value.length}`);
      }
      if (r?.unique && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) {
        this.report(path, 'items must be unique');
      }
      if (r?.items) {
        value.forEach((v, i) => {
          this.checkScalar(r.items, v, `${path}[${i}]`);
        });
      }
      return;
    }
    this.checkScalar(rules, value, path);
  }

  /** Scalar, enum, wrapper, duration and Any rules against one value. */
  private checkScalar(rules: FieldRules, value: unknown, path: string): void {
    if (rules.string && typeof value === 'string') this.checkString(rules.string, value, path);
    if (rules.bytes && typeof value === 'string') {
      const length = Buffer.from(value, 'base64').length;
      if (rules.bytes.min_len !== undefined && length < Number(rules.bytes.min_len)) this.report(path, `must be at least ${rules.bytes.min_len} bytes`);
    }
    for (const kind of NUMBER_RULE_KINDS) {
      const numberRules = rules[kind];
      if (numberRules && value !== undefined && value !== null) this.checkNumber(numberRules, Number(value), path);
    }
    if (rules.enum?.not_in && rules.enum.not_in.length > 0 && typeof value === 'number' && rules.enum.not_in.includes(value)) {
      this.report(path, `value ${value} is not allowed`);
    }
    if (rules.duration && value !== undefined) {
      const seconds = durationSeconds(value);
      const d = rules.duration;
      if (d.gt !== undefined && !(seconds > durationSeconds(d.gt))) this.report(path, `must be greater than ${d.gt}, got ${value}`);
      if (d.gte !== undefined && !(seconds >= durationSeconds(d.gte))) this.report(path, `must be at least ${d.gte}, got ${value}`);
      if (d.lt !== undefined && !(seconds < durationSeconds(d.lt))) this.report(path, `must be less than ${d.lt}, got ${value}`);
      if (d.lte !== undefined && !(seconds <= durationSeconds(d.lte))) this.report(path, `must be at most ${d.lte}, got ${value}`);
    }
    if (rules.any?.in && isObject(value) && !rules.any.in.includes(value['@type'])) {
      this.report(path, `type ${String(value['@type'])} is not one of ${rules.any.in.join(', ')}`);
    }
  }

  private checkNumber(r: FieldRules, n: number, path: string): void {
    if (r.const !== undefined && n !== Number(r.const)) this.report(path, `must equal ${r.const}, got ${n}`);
    if (r.gt !== undefined && !(n > Number(r.gt))) this.report(path, `must be greater than ${r.gt}, got ${n}`);
    if (r.gte !== undefined && !(n >= Number(r.gte))) this.report(path, `must be at least ${r.gte}, got ${n}`);
    if (r.lt !== undefined && !(n < Number(r.lt))) this.report(path, `must be less than ${r.lt}, got ${n}`);
    if (r.lte !== undefined && !(n <= Number(r.lte))) this.report(path, `must be at most ${r.lte}, got ${n}`);
    if (r.in?.length && !r.in.map(Number).includes(n)) this.report(path, `must be one of ${r.in.join(', ')}, got ${n}`);
    if (r.not_in?.length && r.not_in.map(Number).includes(n)) this.report(path, `must not be ${n}`);
  }

  private checkString(r: FieldRules, s: string, path: string): void {
    const length = codePoints(s);
    if (r.min_len !== undefined && length < Number(r.min_len)) this.report(path, `must be at least ${r.min_len} character(s), got ${JSON.stringify(s)}`);
    if (r.max_len !== undefined && length > Number(r.max_len)) this.report(path, `must be at most ${r.max_len} characters`);
    if (r.min_bytes !== undefined && Buffer.byteLength(s) < Number(r.min_bytes)) this.report(path, `must be at least ${r.min_bytes} byte(s)`);
    if (r.max_bytes !== undefined && Buffer.byteLength(s) > Number(r.max_bytes)) this.report(path, `must be at most ${r.max_bytes} bytes`);
    if (r.prefix !== undefined && !s.startsWith(r.prefix)) this.report(path, `must start with ${r.prefix}`);
    if (r.in?.length && !r.in.includes(s)) this.report(path, `must be one of ${r.in.join(', ')}`);
    if (r.not_in?.length && r.not_in.includes(s)) this.report(path, `must not be ${JSON.stringify(s)}`);
    if (r.pattern !== undefined && s !== '') {
      const regex = patternOf(r.pattern);
      if (regex && !regex.test(s)) this.report(path, `must match ${r.pattern}, got ${JSON.stringify(s)}`);
    }
    const strict = r.strict !== false;
    if (r.well_known_regex === 'HTTP_HEADER_NAME' && s !== '' && strict && !HEADER_NAME.test(s))
      this.report(path, `is not a valid HTTP header name: ${JSON.stringify(s)}`);
    if (r.well_known_regex === 'HTTP_HEADER_VALUE' && strict && !isHeaderValue(s)) this.report(path, 'is not a valid HTTP header value');
  }
}

function fieldValue(json: JsonObject, f: { name: string; camel: string }): unknown {
  const direct = json[f.name];
  return direct !== undefined ? direct : json[f.camel];
}

/** String length in code points (PGV's min_len/max_len), without materialising them. */
function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

// Patterns compiled once (undefined: an RE2-only pattern JavaScript cannot compile, left to Envoy).
const patterns = new Map<string, RegExp | undefined>();
function patternOf(pattern: string): RegExp | undefined {
  if (patterns.has(pattern)) return patterns.get(pattern);
  let regex: RegExp | undefined;
  try {
    regex = new RegExp(pattern, 'u');
  } catch {
    regex = undefined;
  }
  patterns.set(pattern, regex);
  return regex;
}

interface FieldPlan {
  field: protobuf.Field;
  name: string;
  camel: string;
  rules?: FieldRules;
  oneofMember: boolean;
  message?: protobuf.Type;
}

interface TypePlan {
  isAny: boolean;
  disabled: boolean;
  requiredOneofs: { fields: { name: string; camel: string }[] }[];
  fields: FieldPlan[];
}

// What checking a message type needs, worked out once per type (per API version: each has its own types).
const plans = new WeakMap<protobuf.Type, TypePlan>();
function planOf(api: EnvoyApi, type: protobuf.Type): TypePlan {
  let plan = plans.get(type);
  if (plan) return plan;
  const name = fullName(type);
  const rules = api.rules.get(name);
  plan = {
    isAny: name === 'google.protobuf.Any',
    disabled: rules?.disabled === true,
    requiredOneofs: (rules?.requiredOneofs ?? []).map((oneofName) => ({
      fields: (type.oneofs?.[oneofName]?.fieldsArray ?? []).map((f) => ({ name: f.name, camel: camelCase(f.name) })),
    })),
    fields: type.fieldsArray.map((field) => {
      const fieldRules = rules?.fields?.[field.name];
      const resolved = field.resolvedType;
      return {
        field,
        name: field.name,
        camel: camelCase(field.name),
        ...(fieldRules ? { rules: fieldRules } : {}),
        oneofMember: field.partOf !== null && field.partOf !== undefined,
        ...(resolved instanceof protobuf.Type ? { message: resolved } : {}),
      };
    }),
  };
  plans.set(type, plan);
  return plan;
}

/** Every PGV rule the resource breaks, with field paths; empty when it is valid. */
export function validateResource(api: EnvoyApi, messageName: string, json: unknown): ValidationIssue[] {
  const type = api.lookupType(messageName);
  // The compiled writer checks and encodes in one pass; it gives up on any issue or error,
  // and then this checker gives the issues with their paths, in its order.
  if (encodeFast(api, type, json, true)) return [];
  const checker = new Checker(api);
  checker.checkMessage(type, json, '');
  return checker.issues;
}

type Verdict = (value: unknown) => boolean;
const ALWAYS_OK: Verdict = () => true;

/** All of `checks` pass (no closure when there is one or none). */
function allOf(checks: Verdict[]): Verdict {
  if (checks.length === 0) return ALWAYS_OK;
  if (checks.length === 1) return checks[0] as Verdict;
  return (value) => {
    for (const check of checks) if (!check(value)) return false;
    return true;
  };
}

function numberVerdict(r: FieldRules): (n: number) => boolean {
  const checks: ((n: number) => boolean)[] = [];
  if (r.const !== undefined) {
    const c = Number(r.const);
    checks.push((n) => n === c);
  }
  if (r.gt !== undefined) {
    const gt = Number(r.gt);
    checks.push((n) => n > gt);
  }
  if (r.gte !== undefined) {
    const gte = Number(r.gte);
    checks.push((n) => n >= gte);
  }
  if (r.lt !== undefined) {
    const lt = Number(r.lt);
    checks.push((n) => n < lt);
  }
  if (r.lte !== undefined) {
    const lte = Number(r.lte);
    checks.push((n) => n <= lte);
  }
  if (r.in?.length) {
    const allowed = r.in.map(Number) as number[];
    checks.push((n) => allowed.includes(n));
  }
  if (r.not_in?.length) {
    const denied = r.not_in.map(Number) as number[];
    checks.push((n) => !denied.includes(n));
  }
  return (n) => {
    for (const check of checks) if (!check(n)) return false;
    return true;
  };
}

function stringVerdict(r: FieldRules): (s: string) => boolean {
  const checks: ((s: string) => boolean)[] = [];
  if (r.min_len !== undefined) {
    const min = Number(r.min_len);
    checks.push((s) => !(codePoints(s) < min));
  }
  if (r.max_len !== undefined) {
    const max = Number(r.max_len);
    checks.push((s) => !(codePoints(s) > max));
  }
  if (r.min_bytes !== undefined) {
    const min = Number(r.min_bytes);
    checks.push((s) => !(Buffer.byteLength(s) < min));
  }
  if (r.max_bytes !== undefined) {
    const max = Number(r.max_bytes);
    checks.push((s) => !(Buffer.byteLength(s) > max));
  }
  if (r.prefix !== undefined) {
    const prefix = r.prefix;
    checks.push((s) => s.startsWith(prefix));
  }
  if (r.in?.length) checks.push((s) => r.in.includes(s));
  if (r.not_in?.length) checks.push((s) => !r.not_in.includes(s));
  if (r.pattern !== undefined) {
    const regex = patternOf(r.pattern);
    if (regex) checks.push((s) => s === '' || regex.test(s));
  }
  const strict = r.strict !== false;
  if (r.well_known_regex === 'HTTP_HEADER_NAME' && strict) checks.push((s) => s === '' || HEADER_NAME.test(s));
  if (r.well_known_regex === 'HTTP_HEADER_VALUE' && strict) checks.push(isHeaderValue);
  return (s) => {
    for (const check of checks) if (!check(s)) return false;
    return true;
  };
}

/** `Checker.checkScalar` as a verdict, with everything that depends only on the rules worked out once. */
function scalarVerdict(rules: FieldRules): Verdict {
  const checks: Verdict[] = [];
  if (rules.string) {
    const check = stringVerdict(rules.string);
    checks.push((v) => typeof v !== 'string' || check(v));
  }
  if (rules.bytes && rules.bytes.min_len !== undefined) {
    const min = Number(rules.bytes.min_len);
    checks.push((v) => typeof v !== 'string' || !(Buffer.from(v, 'base64').length < min));
  }
  for (const kind of NUMBER_RULE_KINDS) {
    if (!rules[kind]) continue;
    const check = numberVerdict(rules[kind]);
    checks.push((v) => v === undefined || v === null || check(Number(v)));
  }
  if (rules.enum?.not_in && rules.enum.not_in.length > 0) {
    const denied = rules.enum.not_in as unknown[];
    checks.push((v) => !(typeof v === 'number' && denied.includes(v)));
  }
  if (rules.duration) {
    const d = rules.duration;
    const bounds: ((seconds: number) => boolean)[] = [];
    if (d.gt !== undefined) bounds.push((s) => s > durationSeconds(d.gt));
    if (d.gte !== undefined) bounds.push((s) => s >= durationSeconds(d.gte));
    if (d.lt !== undefined) bounds.push((s) => s < durationSeconds(d.lt));
    if (d.lte !== undefined) bounds.push((s) => s <= durationSeconds(d.lte));
    checks.push((v) => {
      if (v === undefined) return true;
      const seconds = durationSeconds(v);
      for (const bound of bounds) if (!bound(seconds)) return false;
      return true;
    });
  }
  if (rules.any?.in) {
    const allowed = rules.any.in as unknown[];
    checks.push((v) => !isObject(v) || allowed.includes(v['@type']));
  }
  return allOf(checks);
}

/**
 * @internal `Checker.checkFieldRules` as a verdict (true: no issue), compiled once per
 * field for the compiled writer, which only needs to know whether there is an issue
 * (when there is, the checker runs and reports it). The property test holds the two
 * to the same verdicts.
 */
export function compileFieldVerdict(field: protobuf.Field, rules: FieldRules): Verdict {
  const required = Boolean(rules.message?.required || rules.duration?.required || rules.any?.required || rules.timestamp?.required);
  const scalar = scalarVerdict(rules);
  // An absent field's verdict depends on the rules alone.
  let absentOk = !required;
  if (absentOk) {
    if (!field.repeated && !field.map && !(field.resolvedType instanceof protobuf.Type)) {
      const implicit = field.type === 'string' ? '' : field.type === 'bool' ? false : field.resolvedType ? undefined : 0;
      if (implicit !== undefined) absentOk = scalar(implicit);
    } else if (rules.repeated?.min_items && Number(rules.repeated.min_items) > 0) {
      absentOk = false;
    } else if (rules.map?.min_pairs && Number(rules.map.min_pairs) > 0) {
      absentOk = false;
    }
  }
  let present: Verdict;
  if (field.map) {
    const minPairs = rules.map?.min_pairs !== undefined ? Number(rules.map.min_pairs) : undefined;
    const keys = rules.map?.keys ? scalarVerdict(rules.map.keys) : undefined;
    const values = rules.map?.values ? scalarVerdict(rules.map.values) : undefined;
    present = (value) => {
      if (!isObject(value)) return true;
      const entries = Object.keys(value);
      if (minPairs !== undefined && entries.length < minPairs) return false;
      for (const k of entries) {
        if (keys && !keys(k)) return false;
        if (values && !values(value[k])) return false;
      }
      return true;
    };
  } else if (field.repeated) {
    const r = rules.repeated;
    const minItems = r?.min_items !== undefined ? Number(r.min_items) : undefined;
    const maxItems = r?.max_items !== undefined ? Number(r.max_items) : undefined;
    const unique = Boolean(r?.unique);
    const items = r?.items ? scalarVerdict(r.items) : undefined;
    present = (value) => {
      if (!Array.isArray(value)) return true;
      if (minItems !== undefined && value.length < minItems) return false;
      if (maxItems !== undefined && value.length > maxItems) return false;
      if (unique && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) return false;
      if (items) for (const v of value) if (!items(v)) return false;
      return true;
    };
  } else {
    present = scalar;
  }
  return (value) => (value === undefined ? absentOk : present(value));
}
