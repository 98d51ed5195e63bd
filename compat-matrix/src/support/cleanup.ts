import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Teardown tasks run last-in first-out; a failing task does not stop the others. */
export class Cleanup {
  private readonly tasks: (() => Promise<void> | void)[] = [];
  readonly errors: string[] = [];

  add(task: () => Promise<void> | void): void {
    this.tasks.push(task);
  }

  async run(): Promise<void> {
    while (this.tasks.length > 0) {
      const task = this.tasks.pop() as () => Promise<void> | void;
      try {
        await task();
      } catch (error) {
        // keep cleaning; the caller may report what failed
        this.errors.push(error instanceof Error ? error.message : String(error));
      }
    }
  }
}

export function tempDir(prefix: string, cleanup: Cleanup): string {
  const dir = mkdtempSync(join(tmpdir(), `meshcp-${prefix}-`));
  cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
