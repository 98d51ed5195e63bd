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

const HEADER_NAME = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
// Header values: no NUL, CR or LF (PGV's HTTP_HEADER_VALUE, strict mode).
const isHeaderValue = (s: string) => !s.includes('\0') && !s.includes('\n') && !s.includes('\r');

class Checker {
  readonly issues: ValidationIssue[] = [];
  constructor(private readonly api: EnvoyApi) {}

  private report(path: string, message: string): void {
    this.issues.push({ path: path || '(root)', message });
  }

  checkMessage(type: protobuf.Type, json: unknown, path: string): void {
    if (!isObject(json)) return;
    const name = fullName(type);
    if (name === 'google.protobuf.Any') {
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
    const rules = this.api.rules.get(name);
    if (rules?.disabled) return;
    for (const oneofName of rules?.requiredOneofs ?? []) {
      const oneof = type.oneofs?.[oneofName];
      const set = oneof?.fieldsArray.some((f) => fieldValue(json, f.name) !== undefined);
      if (!set) this.report(path, `one of ${oneof?.fieldsArray.map((f) => f.name).join(', ')} is required`);
    }
    for (const field of type.fieldsArray) {
      const fieldPath = path ? `${path}.${field.name}` : field.name;
      const value = fieldValue(json, field.name);
      const fieldRules = rules?.fields?.[field.name];
      // Rules on a oneof member apply only when that member is the one set.
      const unsetOneofMember = value === undefined && field.partOf !== null && field.partOf !== undefined;
      if (fieldRules && !unsetOneofMember) this.checkFieldRules(field, fieldRules, value, fieldPath);
      if (value === undefined) continue;
      const resolved = field.resolvedType;
      if (!(resolved instanceof protobuf.Type)) continue;
      if (field.map && isObject(value)) {
        for (const [k, v] of Object.entries(value)) this.checkMessage(resolved, v, `${fieldPath}.${k}`);
      } else if (field.repeated && Array.isArray(value)) {
        value.forEach((v, i) => {
          this.checkMessage(resolved, v, `${fieldPath}[${i}]`);
        });
      } else {
        this.checkMessage(resolved, value, fieldPath);
      }
    }
  }

  private checkFieldRules(field: protobuf.Field, rules: FieldRules, value: unknown, path: string): void {
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
    for (const kind of ['uint32', 'uint64', 'int32', 'int64', 'double', 'float', 'fixed32', 'fixed64', 'sint32', 'sint64']) {
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
    const length = [...s].length;
    if (r.min_len !== undefined && length < Number(r.min_len)) this.report(path, `must be at least ${r.min_len} character(s), got ${JSON.stringify(s)}`);
    if (r.max_len !== undefined && length > Number(r.max_len)) this.report(path, `must be at most ${r.max_len} characters`);
    if (r.min_bytes !== undefined && Buffer.byteLength(s) < Number(r.min_bytes)) this.report(path, `must be at least ${r.min_bytes} byte(s)`);
    if (r.max_bytes !== undefined && Buffer.byteLength(s) > Number(r.max_bytes)) this.report(path, `must be at most ${r.max_bytes} bytes`);
    if (r.prefix !== undefined && !s.startsWith(r.prefix)) this.report(path, `must start with ${r.prefix}`);
    if (r.in?.length && !r.in.includes(s)) this.report(path, `must be one of ${r.in.join(', ')}`);
    if (r.not_in?.length && r.not_in.includes(s)) this.report(path, `must not be ${JSON.stringify(s)}`);
    if (r.pattern !== undefined && s !== '') {
      let regex: RegExp | undefined;
      try {
        regex = new RegExp(r.pattern, 'u');
      } catch {
        regex = undefined; // an RE2-only pattern: leave it to Envoy
      }
      if (regex && !regex.test(s)) this.report(path, `must match ${r.pattern}, got ${JSON.stringify(s)}`);
    }
    const strict = r.strict !== false;
    if (r.well_known_regex === 'HTTP_HEADER_NAME' && s !== '' && strict && !HEADER_NAME.test(s))
      this.report(path, `is not a valid HTTP header name: ${JSON.stringify(s)}`);
    if (r.well_known_regex === 'HTTP_HEADER_VALUE' && strict && !isHeaderValue(s)) this.report(path, 'is not a valid HTTP header value');
  }
}

function fieldValue(json: JsonObject, protoName: string): unknown {
  const direct = json[protoName];
  return direct !== undefined ? direct : json[camelCase(protoName)];
}

/** Every PGV rule the resource breaks, with field paths; empty when it is valid. */
export function validateResource(api: EnvoyApi, messageName: string, json: unknown): ValidationIssue[] {
  const checker = new Checker(api);
  checker.checkMessage(api.lookupType(messageName), json, '');
  return checker.issues;
}
