/**
 * Waiting on facts: every wait names what it expects, has a deadline, and on
 * timeout says what it saw last. Never a bare sleep.
 */

export class AbortedError extends Error {
  constructor(reason: unknown) {
    super(reason instanceof Error ? reason.message : `aborted: ${String(reason)}`);
    this.name = 'AbortedError';
  }
}

/** Thrown by a probe to end a wait at once: the fact it waits for can no longer happen. */
export class StopWaiting extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StopWaiting';
  }
}

/** Resolves after `ms` unless `signal` aborts first (then rejects). For poll intervals only. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError(signal.reason));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError(signal?.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Polls `probe` until it returns something other than `undefined`/`false`, and
 * returns that. Throws after `timeoutMs` with `what` and the last value or error seen;
 * a probe that throws StopWaiting ends the wait at once with that error.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  intervalMs = 100,
  signal?: AbortSignal,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (signal?.aborted) throw new AbortedError(signal.reason);
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value as T;
      last = value;
    } catch (error) {
      if (error instanceof StopWaiting || error instanceof AbortedError) throw error;
      last = error instanceof Error ? error.message : error;
    }
    await pause(intervalMs, signal);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${describe(last)}`);
}
