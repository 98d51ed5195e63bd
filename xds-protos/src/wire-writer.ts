/**
 * The fast path of `encodeJson` and `validateResource`: proto3 JSON written straight
 * to the wire, one pass, with the PGV rules checked on the way — no intermediate
 * protobufjs objects, no protobufjs `fromObject`/`encode` code generation.
 *
 * Built at run time from the descriptors: one plan per message type (memoised per
 * API version, as each version has its own types); nothing is generated from the
 * schemas ahead of time. The plan does what the generic path does, in the same
 * order: fields in field-number order (as protobufjs's encoder writes them), the same
 * value coercions as protobufjs's `fromObject`, the bytes of protobufjs's `Writer`
 * (wire-buffer.ts) — so the bytes are the same, which the property test checks over every
 * golden resource.
 *
 * Correctness first: whatever the fast path does not handle exactly — an error of
 * any kind (unknown field, wrong JSON type, a oneof set twice), a PGV issue, a type
 * shape it has no plan for — makes the caller run the generic path, which then
 * produces the error, the canonical issue list (paths and order) or the bytes. A
 * type shape it cannot plan (groups, required fields, non-string map keys) and the
 * rare well-known types (Struct, Value, Timestamp, …) are encoded by the generic
 * path and embedded as their bytes, which is the same encoding.
 */
import protobuf from 'protobufjs';
import type { EnvoyApi, FieldRules } from './descriptors.js';
import { camelCase, encodeMessageGeneric, fullName, parseDuration } from './json-codec.js';
import { Checker, compileFieldVerdict } from './pgv.js';
import { messageNameOf } from './type-urls.js';
import { type LongLike, WireBuffer } from './wire-buffer.js';

/** Thrown inside the fast path: leave it and let the generic path decide. */
class Unsupported extends Error {}
const UNSUPPORTED = new Unsupported('fast path does not apply');

type JsonObject = Record<string, unknown>;
type Writer = WireBuffer;

/** One buffer for every pass (a pass never starts another; the result is copied out). */
const shared = new WireBuffer();

// The Long class protobufjs's fromObject converts 64-bit values with (present: protobufjs depends on it).
const Long = protobuf.util.Long as unknown as { fromValue(value: number, unsigned?: boolean): unknown } | undefined;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** How one value of a field is written. */
enum Kind {
  Message,
  Any,
  Wrapper,
  Duration,
  /** A well-known type with its own JSON form the fast path leaves to the generic path (Struct, Value, Timestamp, …). */
  Generic,
  Enum,
  String,
  Bool,
  Bytes,
  Number,
}

type NumberType = 'double' | 'float' | 'int32' | 'uint32' | 'sint32' | 'fixed32' | 'sfixed32' | 'int64' | 'uint64' | 'sint64' | 'fixed64' | 'sfixed64';

const WIRE_TYPE: Record<string, number> = {
  double: 1,
  float: 5,
  int32: 0,
  uint32: 0,
  sint32: 0,
  fixed32: 5,
  sfixed32: 5,
  int64: 0,
  uint64: 0,
  sint64: 0,
  fixed64: 1,
  sfixed64: 1,
  bool: 0,
  string: 2,
  bytes: 2,
};

const WRAPPER_NAMES = new Set(['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes'].map((k) => `google.protobuf.${k}Value`));
const GENERIC_WELL_KNOWN = new Set([
  'google.protobuf.Timestamp',
  'google.protobuf.Struct',
  'google.protobuf.Value',
  'google.protobuf.ListValue',
  'google.protobuf.FieldMask',
]);

interface FieldPlan {
  readonly field: protobuf.Field;
  readonly name: string;
  readonly camel: string;
  readonly id: number;
  readonly kind: Kind;
  /** The protobufjs Writer method for a scalar, an enum (int32) or a wrapper's value. */
  readonly method: NumberType | 'string' | 'bool' | 'bytes';
  /** Tag of one value: singular, a non-packed element, or a map entry. */
  readonly tag: number;
  /** Tag of a map entry's value (field 2). */
  readonly valueTag: number;
  readonly repeated: boolean;
  readonly map: boolean;
  readonly packed: boolean;
  readonly message?: protobuf.Type;
  readonly enumValues?: Readonly<Record<string, number>>;
  readonly rules?: FieldRules;
  /** The field's PGV rules as a verdict (true: no issue), present or absent. */
  readonly verdict?: (value: unknown) => boolean;
  /** Bit of this field's oneof in the message (0: not in a oneof). */
  readonly oneofBit: number;
  /** The plan of `message`, once first needed (plans are made lazily: types refer to each other in cycles). */
  messagePlan: TypePlan | undefined;
}

interface TypePlan {
  readonly type: protobuf.Type;
  /** No plan: encode (and check) this message through the generic path. */
  readonly generic: boolean;
  readonly byKey: ReadonlyMap<string, FieldPlan>;
  /** Fields outside a oneof whose rules an absent value breaks (required, an implicit default out of bounds). */
  readonly failWhenAbsent: readonly FieldPlan[];
  readonly requiredOneofs: readonly (readonly FieldPlan[])[];
  readonly disabled: boolean;
  /** The type's own reader of a message in snake_case (`compileReader`), when one could be made. */
  readonly reader: CompiledReader | undefined;
}

/**
 * Reads, checks and writes one message whose keys are all snake_case field names, with
 * one property load per field of the type at a site of its own (monomorphic, unlike the
 * generic loop's keyed load over every type). False, before writing anything, when the
 * message has any other key (a camelCase spelling, `@type`, an unknown key, an explicit
 * undefined): the generic loop then decides, as before.
 */
type CompiledReader = (pass: Pass, json: JsonObject, check: boolean, skipAtType: boolean) => boolean;

function kindOf(field: protobuf.Field): { kind: Kind; method: FieldPlan['method'] } {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) return { kind: Kind.Enum, method: 'int32' };
  if (resolved instanceof protobuf.Type) {
    const name = fullName(resolved);
    if (name === 'google.protobuf.Any') return { kind: Kind.Any, method: 'bytes' };
    if (WRAPPER_NAMES.has(name)) return { kind: Kind.Wrapper, method: resolved.fields.value?.type as FieldPlan['method'] };
    if (name === 'google.protobuf.Duration') return { kind: Kind.Duration, method: 'int64' };
    if (GENERIC_WELL_KNOWN.has(name)) return { kind: Kind.Generic, method: 'bytes' };
    return { kind: Kind.Message, method: 'bytes' };
  }
  if (field.type === 'string') return { kind: Kind.String, method: 'string' };
  if (field.type === 'bool') return { kind: Kind.Bool, method: 'bool' };
  if (field.type === 'bytes') return { kind: Kind.Bytes, method: 'bytes' };
  return { kind: Kind.Number, method: field.type as NumberType };
}

const plans = new WeakMap<protobuf.Type, TypePlan>();

function messagePlanOf(api: EnvoyApi, f: FieldPlan): TypePlan {
  f.messagePlan = planOf(api, f.message as protobuf.Type);
  return f.messagePlan;
}

function planOf(api: EnvoyApi, type: protobuf.Type): TypePlan {
  let plan = plans.get(type);
  if (plan) return plan;
  plan = makePlan(api, type);
  plans.set(type, plan);
  return plan;
}

function makePlan(api: EnvoyApi, type: protobuf.Type): TypePlan {
  const name = fullName(type);
  const rules = api.rules.get(name);
  const oneofBits = new Map<string, number>();
  for (const oneof of type.oneofsArray ?? []) oneofBits.set(oneof.name, 1 << oneofBits.size);
  let generic =
    name === 'google.protobuf.Any' || WRAPPER_NAMES.has(name) || name === 'google.protobuf.Duration' || GENERIC_WELL_KNOWN.has(name) || oneofBits.size > 30;
  const byKey = new Map<string, FieldPlan>();
  const byName = new Map<string, FieldPlan>();
  for (const field of type.fieldsArray) {
    field.resolve();
    const { kind, method } = kindOf(field);
    const scalarWire = WIRE_TYPE[method];
    if (field.delimited || field.required || (kind === Kind.Wrapper && scalarWire === undefined)) generic = true;
    if (field.map && (field as unknown as protobuf.MapField).keyType !== 'string') generic = true;
    const isMessage = kind === Kind.Message || kind === Kind.Any || kind === Kind.Wrapper || kind === Kind.Duration || kind === Kind.Generic;
    const wire = isMessage ? 2 : (scalarWire ?? 2);
    const fieldRules = rules?.fields?.[field.name];
    const plan: FieldPlan = {
      field,
      name: field.name,
      camel: camelCase(field.name),
      id: field.id,
      kind,
      method,
      tag: field.map ? ((field.id << 3) | 2) >>> 0 : ((field.id << 3) | wire) >>> 0,
      valueTag: ((2 << 3) | wire) >>> 0,
      repeated: field.repeated,
      map: field.map,
      packed: field.repeated && !field.map && !isMessage && kind !== Kind.String && kind !== Kind.Bytes && field.packed,
      // Every plan has every property (undefined when absent), so reads of a plan stay monomorphic.
      message: field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined,
      enumValues: field.resolvedType instanceof protobuf.Enum ? field.resolvedType.values : undefined,
      rules: fieldRules,
      verdict: fieldRules ? compileFieldVerdict(field, fieldRules) : undefined,
      oneofBit: field.partOf ? (oneofBits.get(field.partOf.name) ?? 0) : 0,
      messagePlan: undefined,
    };
    byKey.set(plan.name, plan);
    byName.set(plan.name, plan);
  }
  for (const plan of byName.values()) if (!byKey.has(plan.camel)) byKey.set(plan.camel, plan);
  // A present field's rules are checked with its value; an absent one's verdict depends on the rules alone.
  const failWhenAbsent = [...byName.values()].filter((f) => f.verdict && f.oneofBit === 0 && !f.verdict(undefined));
  const requiredOneofs = (rules?.requiredOneofs ?? []).map((oneofName) =>
    (type.oneofs?.[oneofName]?.fieldsArray ?? []).map((f) => byName.get(f.name) as FieldPlan),
  );
  const disabled = rules?.disabled === true;
  const reader = generic ? undefined : compileReader(api, [...byName.values()], failWhenAbsent, requiredOneofs, disabled);
  return { type, generic, byKey, failWhenAbsent, requiredOneofs, disabled, reader };
}

/** The most fields a compiled reader takes on (one local each); larger types keep the generic loop. */
const MAX_COMPILED_FIELDS = 250;

/**
 * The reader of one message type (see `CompiledReader`): JavaScript made at run time from
 * the descriptor's field names, which go into the source only as JSON string literals, so
 * no name can change what the code does. The checks are the generic loop's, in its order
 * of effect: a oneof set twice, a required oneof or a rule broken by an absent field, a
 * present field's rules — any of them throws and the caller's generic path reports it.
 */
function compileReader(
  api: EnvoyApi,
  fields: readonly FieldPlan[],
  failWhenAbsent: readonly FieldPlan[],
  requiredOneofs: readonly (readonly FieldPlan[])[],
  disabled: boolean,
): CompiledReader | undefined {
  if (fields.length > MAX_COMPILED_FIELDS) return undefined;
  // A name Object.prototype has would be read through the prototype when the message lacks it.
  if (fields.some((f) => f.name in Object.prototype)) return undefined;
  const ordered = [...fields].sort((a, b) => a.id - b.id);
  const index = new Map(ordered.map((f, i) => [f, i]));
  const local = (f: FieldPlan) => `v${index.get(f)}`;
  const lines: string[] = ['let present = 0;'];
  // A field counts only as an own enumerable key, as the generic loop reads keys: a hidden (non-enumerable)
  // property or one from a polluted Object.prototype would otherwise make up for an unknown key in the count.
  for (const [i, f] of ordered.entries()) {
    const name = JSON.stringify(f.name);
    lines.push(`const v${i} = json[${name}]; if (v${i} !== undefined) { if (!enumerable.call(json, ${name})) return false; present++; }`);
  }
  lines.push(
    'let keys = 0; for (const key in json) keys++;',
    `if (skipAtType && enumerable.call(json, "@type")) keys--;`,
    // With Object.prototype as the prototype, for-in sees own enumerable keys only (a message is never anything else but for that check).
    'if (present !== keys || Object.getPrototypeOf(json) !== ObjectPrototype) return false;',
  );
  const oneofs = new Map<number, FieldPlan[]>();
  for (const f of ordered) if (f.oneofBit !== 0) oneofs.set(f.oneofBit, [...(oneofs.get(f.oneofBit) ?? []), f]);
  for (const members of oneofs.values()) {
    if (members.length > 1) lines.push(`if (${members.map((f) => `(${local(f)} !== undefined ? 1 : 0)`).join(' + ')} > 1) throw U;`);
  }
  const checks: string[] = [];
  if (!disabled) {
    for (const oneof of requiredOneofs) {
      const members = oneof.filter((f) => f !== undefined);
      checks.push(members.length === 0 ? 'throw U;' : `if (${members.map((f) => `${local(f)} === undefined`).join(' && ')}) throw U;`);
    }
    for (const f of failWhenAbsent) checks.push(`if (${local(f)} === undefined) throw U;`);
    for (const f of ordered) if (f.verdict) checks.push(`if (${local(f)} !== undefined && !F[${index.get(f)}].verdict(${local(f)})) throw U;`);
  }
  lines.push(`const checkChildren = check${disabled ? ' && false' : ''};`);
  if (checks.length > 0) lines.push(`if (checkChildren) { ${checks.join(' ')} }`);
  lines.push('const w = pass.writer;');
  for (const [i, f] of ordered.entries()) lines.push(`if (v${i} !== undefined) { ${writeField(f, i)} }`);
  lines.push('return true;');
  const make = new Function(
    'F',
    'U',
    'ObjectPrototype',
    'enumerable',
    'planOf',
    `return function read(pass, json, check, skipAtType) {\n${lines.join('\n')}\n};`,
  );
  return make(ordered, UNSUPPORTED, Object.prototype, Object.prototype.propertyIsEnumerable, (f: FieldPlan) => messagePlanOf(api, f)) as CompiledReader;
}

/**
 * The writes of one present field `v${i}` in a compiled reader: strings and messages (most
 * of what xDS resources hold) inline, as `Pass.single` writes them; everything else
 * through `Pass.field`.
 */
function writeField(f: FieldPlan, i: number): string {
  const v = `v${i}`;
  const one = (value: string): string | undefined => {
    if (f.kind === Kind.String) return `if (typeof ${value} !== "string") throw U; w.uint32(${f.tag}); if (!w.string(${value})) throw U;`;
    if (f.kind === Kind.Message) {
      // The nested plan is made on first use (types refer to each other in cycles); a generic one goes through Pass.field.
      return `{ const plan = F[${i}].messagePlan ?? planOf(F[${i}]); if (plan.generic) pass.single(F[${i}], ${f.tag}, ${value}, checkChildren); else { w.uint32(${f.tag}).fork(); pass.fields(plan, ${value}, checkChildren, false); w.ldelim(); } }`;
    }
    return undefined;
  };
  if (f.map || f.packed) return `pass.field(F[${i}], ${v}, checkChildren);`;
  if (f.repeated) {
    const each = one(`${v}[k]`);
    return each ? `if (!Array.isArray(${v})) throw U; for (let k = 0; k < ${v}.length; k++) { ${each} }` : `pass.field(F[${i}], ${v}, checkChildren);`;
  }
  return one(v) ?? `pass.field(F[${i}], ${v}, checkChildren);`;
}

// The present fields of the messages being written, outermost first (shared: a pass never starts another).
const presentStack: FieldPlan[] = [];
const valueStack: unknown[] = [];

/** One pass over one resource: the writer, and the PGV checker when checking. */
class Pass {
  /** The first free slot of the shared stacks. */
  top = 0;
  readonly writer: Writer = shared;
  readonly checker: Checker;
  constructor(readonly api: EnvoyApi) {
    this.checker = new Checker(api);
  }

  /** Writes the fields of `json` as `plan`'s type (the caller has written tag and fork). */
  fields(plan: TypePlan, json: unknown, check: boolean, skipAtType: boolean): void {
    if (!isObject(json)) throw UNSUPPORTED;
    if (plan.reader?.(this, json, check, skipAtType)) return;
    // Present fields in field-number order, on the shared stacks from `base` (insertion
    // sort: messages have few set fields); nested messages use the stacks above `end`.
    const present = presentStack;
    const values = valueStack;
    const base = this.top;
    let end = base;
    let oneofsSet = 0;
    for (const key in json) {
      if (!Object.hasOwn(json, key)) continue;
      const value = json[key];
      if (value === undefined) continue;
      const f = plan.byKey.get(key);
      if (f === undefined) {
        if (skipAtType && key === '@type') continue;
        throw UNSUPPORTED;
      }
      // Both spellings of one field: the generic path and the checker disagree on which wins.
      if (key !== f.name && json[f.name] !== undefined) throw UNSUPPORTED;
      if (f.oneofBit !== 0) {
        if ((oneofsSet & f.oneofBit) !== 0) throw UNSUPPORTED;
        oneofsSet |= f.oneofBit;
      }
      let at = end++;
      while (at > base && (present[at - 1] as FieldPlan).id > f.id) {
        present[at] = present[at - 1] as FieldPlan;
        values[at] = values[at - 1];
        at--;
      }
      present[at] = f;
      values[at] = value;
    }
    let checkChildren = false;
    if (check && !plan.disabled) {
      checkChildren = true;
      for (const oneof of plan.requiredOneofs) {
        if (!oneof.some((f) => f !== undefined && (json[f.name] !== undefined || json[f.camel] !== undefined))) throw UNSUPPORTED;
      }
      for (const f of plan.failWhenAbsent) if (json[f.name] === undefined && json[f.camel] === undefined) throw UNSUPPORTED;
      for (let i = base; i < end; i++) {
        const f = present[i] as FieldPlan;
        if (f.verdict && !f.verdict(values[i])) throw UNSUPPORTED;
      }
    }
    this.top = end;
    for (let i = base; i < end; i++) this.field(present[i] as FieldPlan, values[i], checkChildren);
    for (let i = base; i < end; i++) values[i] = undefined; // hold no JSON past the pass
    this.top = base;
  }

  /** @internal one present field (compiled readers call it too). */
  field(f: FieldPlan, value: unknown, check: boolean): void {
    const w = this.writer;
    if (f.map) {
      if (!isObject(value)) throw UNSUPPORTED;
      for (const key of Object.keys(value)) {
        w.uint32(f.tag).fork().uint32(10);
        if (!w.string(key)) throw UNSUPPORTED;
        this.single(f, f.valueTag, value[key], check);
        w.ldelim();
      }
      return;
    }
    if (f.repeated) {
      if (!Array.isArray(value)) throw UNSUPPORTED;
      if (value.length === 0) return;
      if (f.packed) {
        const converted = value.map((v) => this.scalar(f, v));
        w.uint32(((f.id << 3) | 2) >>> 0).fork();
        for (const v of converted) this.put(f.method, v);
        w.ldelim();
        return;
      }
      for (const v of value) this.single(f, f.tag, v, check);
      return;
    }
    this.single(f, f.tag, value, check);
  }

  /** One value (singular, a list element or a map value) with its tag (compiled readers call it too). */
  single(f: FieldPlan, tag: number, value: unknown, check: boolean): void {
    const w = this.writer;
    switch (f.kind) {
      case Kind.Message: {
        const plan = f.messagePlan ?? messagePlanOf(this.api, f);
        if (plan.generic) {
          w.uint32(tag).bytes(this.generic(plan.type, value, check));
          return;
        }
        w.uint32(tag).fork();
        this.fields(plan, value, check, false);
        w.ldelim();
        return;
      }
      case Kind.Any:
        this.any(tag, value, check);
        return;
      case Kind.Wrapper:
        this.wrapper(f, tag, value);
        return;
      case Kind.Duration: {
        let duration: { seconds: number; nanos: number };
        try {
          duration = parseDuration(value, '');
        } catch {
          throw UNSUPPORTED;
        }
        w.uint32(tag)
          .fork()
          .uint32(8)
          .int64((Long as NonNullable<typeof Long>).fromValue(duration.seconds, false) as LongLike)
          .uint32(16)
          .int32(duration.nanos | 0)
          .ldelim();
        return;
      }
      case Kind.Generic:
        w.uint32(tag).bytes(this.generic(f.message as protobuf.Type, value, false));
        return;
      default:
        w.uint32(tag);
        this.put(f.method, this.scalar(f, value));
    }
  }

  /** One scalar with the writer method protobufjs's encoder uses for it. */
  private put(method: FieldPlan['method'], value: unknown): void {
    if (method === 'string') {
      if (!this.writer.string(value as string)) throw UNSUPPORTED;
      return;
    }
    (this.writer[method] as (v: unknown) => unknown).call(this.writer, value);
  }

  /** A scalar or enum value as protobufjs's `fromObject` converts it, after the generic path's JSON type checks. */
  private scalar(f: FieldPlan, value: unknown): unknown {
    switch (f.kind) {
      case Kind.String:
        if (typeof value !== 'string') throw UNSUPPORTED;
        return value;
      case Kind.Bool:
        if (typeof value !== 'boolean') throw UNSUPPORTED;
        return value;
      case Kind.Bytes:
        return bytesOf(value);
      case Kind.Enum:
        if (typeof value === 'number') return value;
        if (typeof value === 'string' && Object.hasOwn(f.enumValues as object, value)) return (f.enumValues as Record<string, number>)[value];
        throw UNSUPPORTED;
      default: {
        const number = typeof value === 'string' ? Number(value) : value;
        if (typeof number !== 'number' || Number.isNaN(number)) throw UNSUPPORTED;
        return coerceNumber(f.method as NumberType, number);
      }
    }
  }

  private wrapper(f: FieldPlan, tag: number, json: unknown): void {
    const w = this.writer;
    w.uint32(tag).fork();
    if (json !== null) {
      const method = f.method;
      let value: unknown;
      if (method === 'string') {
        if (typeof json !== 'string') throw UNSUPPORTED;
        value = json;
      } else if (method === 'bool') {
        if (typeof json !== 'boolean') throw UNSUPPORTED;
        value = json;
      } else if (method === 'bytes') {
        value = bytesOf(json);
      } else {
        const number = typeof json === 'string' ? Number(json) : json;
        if (typeof number !== 'number') throw UNSUPPORTED;
        value = coerceNumber(method, number);
      }
      w.uint32(((1 << 3) | (WIRE_TYPE[method] as number)) >>> 0);
      this.put(method, value);
    }
    w.ldelim();
  }

  private any(tag: number, json: unknown, check: boolean): void {
    if (!isObject(json) || typeof json['@type'] !== 'string') throw UNSUPPORTED;
    const typeUrl = json['@type'];
    let packed: protobuf.Type;
    try {
      packed = this.api.lookupType(messageNameOf(typeUrl));
    } catch {
      throw UNSUPPORTED;
    }
    const plan = planOf(this.api, packed);
    const w = this.writer;
    if (plan.generic) {
      // A well-known type packed in an Any (its JSON is under "value"): the whole Any through the generic path.
      w.uint32(tag).bytes(this.generic(this.api.lookupType('google.protobuf.Any'), json, check));
      return;
    }
    w.uint32(tag).fork().uint32(10);
    if (!w.string(typeUrl)) throw UNSUPPORTED;
    w.uint32(18).fork();
    this.fields(plan, json, check, true);
    w.ldelim().ldelim();
  }

  /** Bytes of one message from the generic path (and its PGV check), to embed. */
  private generic(type: protobuf.Type, json: unknown, check: boolean): Uint8Array {
    if (check) {
      this.checker.checkMessage(type, json, '');
      if (this.checker.issues.length > 0) throw UNSUPPORTED;
    }
    try {
      return encodeMessageGeneric(this.api, type, json, '');
    } catch {
      throw UNSUPPORTED;
    }
  }
}

function bytesOf(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value !== 'string') throw UNSUPPORTED;
  // As protobufjs's fromObject decodes base64 (it throws on a bad character: the generic path reports that).
  const base64 = protobuf.util.base64;
  const buffer = protobuf.util.newBuffer(base64.length(value)) as Uint8Array;
  try {
    base64.decode(value, buffer, 0);
  } catch {
    throw UNSUPPORTED;
  }
  return buffer;
}

function coerceNumber(method: NumberType, n: number): unknown {
  switch (method) {
    case 'double':
    case 'float':
      return Number(n);
    case 'uint32':
    case 'fixed32':
      return n >>> 0;
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return n | 0;
    case 'uint64':
    case 'fixed64':
      return (Long as NonNullable<typeof Long>).fromValue(n, true);
    default:
      return (Long as NonNullable<typeof Long>).fromValue(n, false);
  }
}

/**
 * `json` as `type`, PGV-checked when `check` (a disabled type checks nothing below it,
 * as the checker does). Undefined when the fast path does not apply or finds a PGV
 * issue: the caller then runs the generic path.
 */
export function encodeFast(api: EnvoyApi, type: protobuf.Type, json: unknown, check: boolean): Uint8Array | undefined {
  const plan = planOf(api, type);
  if (plan.generic || Long === undefined || Long === null) return undefined;
  const pass = new Pass(api);
  shared.reset();
  try {
    pass.fields(plan, json, check, false);
  } catch {
    // Unsupported, or anything else a value made a coercion throw: the generic path reports it as it always did.
    return undefined;
  }
  return pass.writer.finish();
}
