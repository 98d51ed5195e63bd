/**
 * The glibc malloc setting a process that serves xDS streams runs with.
 *
 * Every response a stream is sent is a few hundred KB of Buffers (our encoding, then
 * grpc-js's framed copy) that live until HTTP/2 flow control lets them out. glibc serves
 * allocations above its mmap threshold (128 KiB) with mmap — but the first time such a
 * chunk is freed it raises the threshold to that chunk's size (dynamic threshold, up to
 * 32 MiB), and from then on every response comes from the brk heap. Freed between the
 * long-lived per-connection allocations (nghttp2 sessions, stream state), those holes
 * never go back to the kernel: after a 1,000-stream sync about half the heap was free
 * and still resident (mallinfo2: 178 MB heap, 86 MB of it free).
 *
 * A fixed `glibc.malloc.mmap_threshold` turns the dynamic threshold off: buffers of
 * 64 KiB and more are mmapped and unmapped when freed, so the heap holds only the small
 * long-lived objects. Measured in docs/performance.md ("Memory per stream").
 *
 * glibc reads GLIBC_TUNABLES once, at process start: xDS worker processes get it in
 * their environment when forked; a process serving streams itself re-executes itself
 * with it (`process.execve`, same pid) before doing anything else. A value the operator
 * set for the mmap threshold is kept as it is. Other C libraries ignore the variable.
 */

/** The tunable: mmap (and unmap on free) every allocation of 64 KiB or more. */
export const MMAP_THRESHOLD_TUNABLE = 'glibc.malloc.mmap_threshold=65536';

/** GLIBC_TUNABLES with our mmap threshold added, unless it already sets one. */
export function withMmapThreshold(current: string | undefined): string {
  if (current?.includes('glibc.malloc.mmap_threshold=')) return current;
  return current ? `${current}:${MMAP_THRESHOLD_TUNABLE}` : MMAP_THRESHOLD_TUNABLE;
}

/** Whether this process started with an mmap threshold (ours or the operator's). */
export function startedWithMmapThreshold(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.GLIBC_TUNABLES?.includes('glibc.malloc.mmap_threshold=') ?? false;
}

/**
 * Re-executes this process with the mmap threshold in GLIBC_TUNABLES when it started
 * without one; returns when it already has it (or cannot: not Linux, no execve, or
 * MESHCP_MALLOC_TUNABLES=off). Call first thing, before any state exists.
 */
export function reexecWithMmapThreshold(): void {
  if (startedWithMmapThreshold() || process.env.MESHCP_MALLOC_TUNABLES === 'off') return;
  if (process.platform !== 'linux' || typeof process.execve !== 'function') return;
  const env = { ...process.env, GLIBC_TUNABLES: withMmapThreshold(process.env.GLIBC_TUNABLES) };
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], env);
}
