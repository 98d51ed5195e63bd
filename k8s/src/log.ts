/**
 * Structured one-line JSON logs on stderr, the same shape as control-plane's
 * logger (k8s may not import control-plane; the dependency runs the other way).
 */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

type Level = keyof Logger;
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function logger(component: string): Logger {
  const write = (level: Level) => (msg: string, fields?: Record<string, unknown>) => {
    const threshold = (process.env.MESHCP_LOG_LEVEL as Level | undefined) ?? 'info';
    if (ORDER[level] < (ORDER[threshold] ?? ORDER.info)) return;
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, component, msg, ...fields })}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
