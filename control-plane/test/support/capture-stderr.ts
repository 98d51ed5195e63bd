/** What a synchronous piece of code writes to stderr (where meshcp logs), chunk by chunk. */
import { vi } from 'vitest';

export function captureStderr(run: () => void): string[] {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    run();
  } finally {
    spy.mockRestore();
  }
  return lines;
}
