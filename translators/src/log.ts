/**
 * The one logger of meshcp: pino, one JSON line per event on stderr (stdout stays
 * free for command output). It lives here because every package imports translators
 * and k8s may not import control-plane; one module instance means `setLogLevel`
 * governs the server and the Kubernetes source alike.
 *
 * Every line has `level` (a name), `time` (ISO 8601), `component` and `msg`; events
 * about a proxy, an xDS type, a version or a config object carry them as `proxy`,
 * `type`, `version` and `object` (the stable keys dashboards and log queries use).
 *
 * Secrets never reach a line: pino's `redact` replaces keys that could hold one
 * (private keys, tokens, passwords, authorization and cookie headers) at the top
 * level and one level down, and any string value that is a PEM private key is
 * replaced whatever its key. Both say `[redacted]`.
 *
 * Only sources and the server log. Translate functions and the manifest parser
 * stay pure: they return errors, they never write them (a test checks that).
 */
import { pino } from 'pino';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];

/** Keys whose values are secrets, wherever they appear in a line's fields. */
export const REDACTED_KEYS = [
  'privateKey',
  'private_key',
  'key',
  'keyPem',
  'token',
  'accessToken',
  'bearerToken',
  'password',
  'secret',
  'authorization',
  'Authorization',
  'cookie',
  'proxy-authorization',
] as const;

export const REDACTED = '[redacted]';

const PEM_PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

function levelFromEnv(): Level {
  const named = process.env.MESHCP_LOG_LEVEL;
  return LEVELS.includes(named as Level) ? (named as Level) : 'info';
}

function scrubPem(fields: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const [name, value] of Object.entries(fields)) {
    let clean = value;
    if (typeof value === 'string' && PEM_PRIVATE_KEY.test(value)) clean = REDACTED;
    else if (value && typeof value === 'object' && !Array.isArray(value)) {
      const inner = scrubPem(value as Record<string, unknown>);
      if (inner !== value) clean = inner;
    }
    if (clean !== value) {
      out ??= { ...fields };
      out[name] = clean;
    }
  }
  return out ?? fields;
}

const root = pino(
  {
    level: levelFromEnv(),
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }), log: scrubPem },
    redact: {
      // Plain names as pino paths (`token`, `*.token`); others quoted (`["proxy-authorization"]`).
      paths: REDACTED_KEYS.flatMap((key) => (/^[A-Za-z_$][\w$]*$/.test(key) ? [key, `*.${key}`] : [`["${key}"]`, `*["${key}"]`])),
      censor: REDACTED,
    },
  },
  // process.stderr rather than pino's own fd writer: lines stay in order with other
  // stderr output, and tests can watch the stream.
  process.stderr,
);

export function setLogLevel(level: Level): void {
  root.level = level;
}

export function logLevel(): Level {
  return root.level as Level;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * A component's logger. Each call goes through the root, so `setLogLevel` reaches
 * loggers made before it (pino children copy their level when made).
 */
export function logger(component: string): Logger {
  const write = (level: Level) => (msg: string, fields?: Record<string, unknown>) => {
    root[level]({ component, ...fields }, msg);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
