/**
 * The one logger of meshcp: structured one-line JSON on stderr (stdout stays free
 * for command output). It lives here because every package imports translators
 * and k8s may not import control-plane; one module instance means `setLogLevel`
 * governs the server and the Kubernetes source alike.
 *
 * Only sources and the server log. Translate functions and the manifest parser
 * stay pure: they return errors, they never write them (a test checks that).
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function levelFromEnv(): Level {
  const named = process.env.MESHCP_LOG_LEVEL;
  return named !== undefined && named in ORDER ? (named as Level) : 'info';
}

let threshold: Level = levelFromEnv();

export function setLogLevel(level: Level): void {
  threshold = level;
}

export function logLevel(): Level {
  return threshold;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function logger(component: string): Logger {
  const write = (level: Level) => (msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < ORDER[threshold]) return;
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, component, msg, ...fields })}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
