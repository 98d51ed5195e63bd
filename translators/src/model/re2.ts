/**
 * What Envoy's RE2 will refuse in a pattern that JavaScript accepts. A refused regex
 * NACKs the whole RouteConfiguration it sits in (every route of every namespace a
 * proxy sees), so meshcp must refuse it first, naming the field.
 *
 * Three limits:
 * - syntax RE2 lacks (lookaround, backreferences, `\u` and `\c` escapes, long Unicode
 *   property names, `[]` / `[^]`);
 * - repetition counts: RE2 refuses `{n}` above 1000, and nested counts whose product
 *   is above 1000 ("bad repetition operator");
 * - program size: Envoy refuses a regex whose compiled RE2 program has more
 *   instructions than the runtime key `re2.max_program_size.error_level` (default 100;
 *   every bootstrap meshcp generates raises it to RE2_MAX_PROGRAM_SIZE). meshcp cannot
 *   run RE2's compiler, so it estimates the size from above: each construct is charged
 *   at least what RE2's compiler emits for it (calibrated against Envoy's own error
 *   message, see e2e/test/route-limits-envoy.test.ts), and a pattern is accepted only
 *   when the estimate fits.
 */

/** The program-size ceiling meshcp's bootstraps give Envoy (Istio's figure). */
export const RE2_MAX_PROGRAM_SIZE = 32_768;
/** RE2's own ceiling for one `{n,m}` and for the product of nested ones. */
export const RE2_MAX_REPEAT = 1000;
/** Longest regex accepted, in characters (Gateway API's path value limit). */
export const MAX_REGEX_LENGTH = 1024;

/** One- and two-letter Unicode general categories RE2 knows (`\p{L}`), and `Any`. */
const RE2_CATEGORIES = new Set('C Cc Cf Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So Z Zl Zp Zs Any'.split(' '));

/**
 * Charges per construct, in RE2 instructions: about twice what Envoy 1.40's RE2 reports
 * for each (measured with its "RE2 program size of N" error at error_level 1: an ASCII
 * range 1, `.` and `[^/]` 2, a non-ASCII range 1-2, a category 3-16; see
 * e2e/test/route-limits-envoy.test.ts), so the estimate stays above the real size.
 */
const COST = {
  /** Fail and Match instructions, and the `.*?` loop of an unanchored pattern. */
  program: 6,
  asciiRange: 2,
  nonAsciiRange: 8,
  /** A negated class or escape (`[^/]`, `\D`, `.`): its complement reaches all of Unicode. */
  complement: 8,
  /** `\p{…}`: Envoy 1.40 measures at most 16 instructions for any category (`\P{S}`). */
  property: 48,
  capture: 2,
  alternative: 1,
  loop: 1,
  emptyWidth: 1,
} as const;

class Re2Error extends Error {}

interface Node {
  /** Estimated RE2 instructions. */
  size: number;
  /** Largest product of nested `{n,m}` counts inside, RE2's "bad repetition operator" check. */
  repeat: number;
}

/** What JavaScript's `u` syntax can escape; RE2 lets any ASCII punctuation be escaped. */
const JS_SYNTAX_CHARACTERS = new Set('^$\\.*+?()[]{}|/');
const ASCII_PUNCTUATION = /^[!-/:-@[-`{-~]$/;

/**
 * The pattern in JavaScript's `u` syntax, for checking it with `new RegExp` and the
 * estimate below: RE2 spellings JavaScript lacks are rewritten to equivalents — a
 * leading `(?i)` (also m, s; RE2's U has no equivalent and is dropped) as a `(?i:…)`
 * group, `(?P<name>` as `(?<name>`, `\A` / `\z` as `^` / `$`, and an escaped
 * punctuation mark JavaScript may not escape (`\-` outside a class) as its `\xHH`.
 */
export function re2AsJavaScript(pattern: string): string {
  const lead = /^\(\?([imsU]+)\)/.exec(pattern);
  const flags = lead ? [...new Set((lead[1] as string).replace(/U/g, ''))].join('') : '';
  let out = '';
  for (let i = lead ? lead[0].length : 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    const next = pattern[i + 1];
    if (c === '\\' && next !== undefined) {
      if (next === 'A') out += '^';
      else if (next === 'z') out += '$';
      else if (ASCII_PUNCTUATION.test(next) && !JS_SYNTAX_CHARACTERS.has(next)) out += `\\x${next.charCodeAt(0).toString(16).padStart(2, '0')}`;
      else out += c + next;
      i++;
    } else if (c === '(' && pattern.startsWith('(?P<', i)) {
      out += '(?<';
      i += 3;
    } else out += c;
  }
  return flags ? `(?${flags}:${out})` : out;
}

/** Why RE2 (as Envoy runs it) would refuse the pattern, or undefined when it would not. */
export function re2Problem(pattern: string): string | undefined {
  if (pattern.length > MAX_REGEX_LENGTH) return `must be at most ${MAX_REGEX_LENGTH} characters, got ${pattern.length}`;
  try {
    const parser = new PatternParser(re2AsJavaScript(pattern));
    const size = parser.program();
    if (size > RE2_MAX_PROGRAM_SIZE)
      return `is too complex for Envoy's RE2: its compiled program is estimated at ${size} instructions, more than the limit of ${RE2_MAX_PROGRAM_SIZE} (large {n,m} counts on classes multiply it; use + or * where you can)`;
    return undefined;
  } catch (error) {
    if (error instanceof Re2Error) return error.message;
    throw error;
  }
}

/** The estimate alone (for tests and the calibration against Envoy). */
export function re2ProgramSizeEstimate(pattern: string): number {
  return new PatternParser(re2AsJavaScript(pattern)).program();
}

function utf8Length(codePoint: number): number {
  return codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
}

/**
 * A recursive-descent reader of the JavaScript `u` syntax (the caller has already
 * checked the pattern compiles as `new RegExp(pattern, 'u')`), charging each construct.
 */
class PatternParser {
  private at = 0;
  private ignoreCase = false;
  constructor(private readonly text: string) {}

  program(): number {
    const node = this.alternation();
    if (this.at < this.text.length) throw new Re2Error(`unexpected ${JSON.stringify(this.text[this.at])} at offset ${this.at}`);
    return node.size + COST.program;
  }

  private peek(offset = 0): string | undefined {
    return this.text[this.at + offset];
  }

  private alternation(): Node {
    const branches = [this.concatenation()];
    while (this.peek() === '|') {
      this.at++;
      branches.push(this.concatenation());
    }
    return {
      size: branches.reduce((sum, b) => sum + b.size, 0) + (branches.length - 1) * COST.alternative,
      repeat: Math.max(...branches.map((b) => b.repeat)),
    };
  }

  private concatenation(): Node {
    let size = 0;
    let repeat = 1;
    while (this.at < this.text.length && this.peek() !== '|' && this.peek() !== ')') {
      const node = this.quantified(this.atom());
      size += node.size;
      repeat = Math.max(repeat, node.repeat);
    }
    return { size, repeat };
  }

  private quantified(node: Node): Node {
    const c = this.peek();
    let result: Node;
    if (c === '*' || c === '+' || c === '?') {
      this.at++;
      result = { size: node.size + COST.loop, repeat: node.repeat };
    } else if (c === '{' && /^\{\d+(,\d*)?\}/.test(this.text.slice(this.at))) {
      const match = /^\{(\d+)(,(\d*))?\}/.exec(this.text.slice(this.at)) as RegExpExecArray;
      this.at += match[0].length;
      const min = Number(match[1]);
      const max = match[2] === undefined ? min : match[3] === '' ? undefined : Number(match[3]);
      for (const count of [min, max]) {
        if (count !== undefined && count > RE2_MAX_REPEAT)
          throw new Re2Error(`repetition count ${count} in ${JSON.stringify(match[0])} is more than RE2's limit of ${RE2_MAX_REPEAT}`);
      }
      // RE2 multiplies nested counts (the upper one, else the lower one) and refuses above 1000.
      const repeat = node.repeat * Math.max(max ?? min, 1);
      if (repeat > RE2_MAX_REPEAT) throw new Re2Error(`nested repetition counts multiply to ${repeat}, more than RE2's limit of ${RE2_MAX_REPEAT}`);
      // RE2 expands x{n,m} into n copies of x and m-n nested optional copies; x{n,} into n copies and a loop.
      const size = max === undefined ? Math.max(min, 1) * node.size + COST.loop : min * node.size + (max - min) * (node.size + COST.loop);
      result = { size: Math.max(size, 1), repeat };
    } else {
      return node;
    }
    if (this.peek() === '?') this.at++;
    else if (this.peek() === '+') throw new Re2Error('possessive quantifiers are not supported by RE2');
    return result;
  }

  private atom(): Node {
    const c = this.peek() as string;
    if (c === '(') return this.group();
    if (c === '[') return this.characterClass();
    if (c === '\\') return this.escape(false);
    this.at++;
    if (c === '^' || c === '$') return { size: COST.emptyWidth, repeat: 1 };
    if (c === '.') return { size: COST.complement, repeat: 1 };
    if (c === '*' || c === '+' || c === '?' || c === '{') throw new Re2Error(`nothing to repeat at offset ${this.at - 1}`);
    this.at--;
    return { size: this.literal(this.codePoint()), repeat: 1 };
  }

  private codePoint(): number {
    const cp = this.text.codePointAt(this.at) as number;
    this.at += cp > 0xffff ? 2 : 1;
    return cp;
  }

  /** A literal's bytes; under (?i) a letter is a class of its cases. */
  private literal(cp: number): number {
    const bytes = utf8Length(cp);
    const char = String.fromCodePoint(cp);
    if (this.ignoreCase && char.toLowerCase() !== char.toUpperCase()) return bytes === 1 ? 2 * COST.asciiRange : COST.nonAsciiRange;
    return bytes;
  }

  private group(): Node {
    const rest = this.text.slice(this.at);
    const savedIgnoreCase = this.ignoreCase;
    let extra: number = COST.capture;
    if (/^\(\?<?[=!]/.test(rest)) throw new Re2Error('lookahead and lookbehind are not supported by RE2');
    // A named group: written `(?P<name>…)` (re2AsJavaScript made it `(?<name>`; the `(?<name>` spelling itself is refused by re2Incompatibility).
    const named = /^\(\?<[A-Za-z_][A-Za-z0-9_]*>/.exec(rest);
    const modifiers = /^\(\?([a-z]*)(?:-([a-z]*))?:/.exec(rest);
    if (named) this.at += named[0].length;
    else if (modifiers) {
      this.at += modifiers[0].length;
      if (modifiers[1]?.includes('i')) this.ignoreCase = true;
      if (modifiers[2]?.includes('i')) this.ignoreCase = false;
      extra = 0;
    } else {
      this.at++;
    }
    const inner = this.alternation();
    if (this.peek() !== ')') throw new Re2Error('missing )');
    this.at++;
    this.ignoreCase = savedIgnoreCase;
    return { size: inner.size + extra, repeat: inner.repeat };
  }

  private characterClass(): Node {
    this.at++;
    let size = 0;
    if (this.peek() === '^') {
      this.at++;
      size += COST.complement;
    }
    // JavaScript reads [] as "nothing" and [^] as "anything"; RE2 reads ] there as a literal.
    if (this.peek() === ']') throw new Re2Error('[] and [^] mean different things to RE2; write (?:) or [\\s\\S] instead');
    while (this.at < this.text.length && this.peek() !== ']') {
      const low = this.classAtom();
      if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== undefined && typeof low === 'number') {
        this.at++;
        const high = this.classAtom();
        if (typeof high !== 'number') throw new Re2Error('a class range must be between two characters');
        size += high < 0x80 ? COST.asciiRange : COST.nonAsciiRange;
      } else {
        size += typeof low === 'number' ? (low < 0x80 ? COST.asciiRange : COST.nonAsciiRange) : low.size;
      }
    }
    if (this.peek() !== ']') throw new Re2Error('missing ]');
    this.at++;
    return { size: Math.max(size, 1), repeat: 1 };
  }

  /** A code point, or a class escape's cost. */
  private classAtom(): number | Node {
    if (this.peek() !== '\\') return this.codePoint();
    return this.escape(true);
  }

  /** After `\`: a Node (outside a class, or a class escape inside one), or a code point inside a class. */
  private escape(inClass: true): number | Node;
  private escape(inClass: false): Node;
  private escape(inClass: boolean): number | Node {
    this.at++;
    const c = this.peek();
    if (c === undefined) throw new Re2Error('trailing backslash');
    this.at++;
    const node = (size: number): Node => ({ size, repeat: 1 });
    const char = (cp: number): number | Node => (inClass ? cp : node(this.literal(cp)));
    switch (c) {
      case 'd':
        return node(COST.asciiRange);
      case 'w':
        return node(4 * COST.asciiRange);
      case 's':
        return node(6 * COST.asciiRange);
      case 'D':
      case 'W':
      case 'S':
        return node(COST.complement + 6 * COST.asciiRange);
      case 'b':
      case 'B':
        if (inClass) throw new Re2Error('\\b inside [...] is a backspace to JavaScript and an error to RE2; write \\x08');
        return node(COST.emptyWidth);
      case 'p':
      case 'P': {
        const name = /^\{([^}]*)\}/.exec(this.text.slice(this.at));
        if (!name || !RE2_CATEGORIES.has(name[1] as string))
          throw new Re2Error(`RE2 knows only one- and two-letter Unicode categories in \\${c}{…} (like \\p{L} or \\p{Nd}), got \\${c}${name?.[0] ?? ''}`);
        this.at += name[0].length;
        return node(COST.property);
      }
      case 'u':
        throw new Re2Error('\\u escapes are JavaScript-only; RE2 writes \\x{…}');
      case 'c':
        throw new Re2Error('\\c control escapes are not supported by RE2');
      case 'k':
        throw new Re2Error('named backreferences are not supported by RE2');
      case 'x': {
        const hex = /^[0-9a-fA-F]{2}/.exec(this.text.slice(this.at));
        if (!hex) throw new Re2Error('\\x must be followed by two hex digits');
        this.at += 2;
        return char(Number.parseInt(hex[0], 16));
      }
      case 'n':
        return char(10);
      case 'r':
        return char(13);
      case 't':
        return char(9);
      case 'f':
        return char(12);
      case 'v':
        return char(11);
      case '0':
        return char(0);
      default:
        if (/[1-9]/.test(c)) throw new Re2Error('backreferences are not supported by RE2');
        // An escaped punctuation character is itself (both engines; `u` mode allows nothing else).
        return char(c.codePointAt(0) as number);
    }
  }
}
