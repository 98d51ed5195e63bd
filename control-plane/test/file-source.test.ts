/**
 * The file source never wipes the mesh by accident: empty, removed, unreadable,
 * truncated and oversized files keep their last good content (with an error), a
 * file being written is not read half-way, and one object defined twice is a
 * conflict in which the serving definition keeps serving. Real files, the real
 * watcher, the real debounce.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { ConfigError, SourceResult } from '@meshcp/translators';
import { afterEach, describe, expect, it } from 'vitest';
import { FileSource } from '../src/source/file-source.js';
import { sleep, until } from './fixtures.js';

function service(name: string, endpointPort: number, extra = ''): string {
  return `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: ${name}, namespace: shop}
spec:
  ports: [{name: http, port: 8080}]
  endpoints:
    - {address: 10.0.0.1, port: ${endpointPort}, locality: {region: eu, zone: eu-1a}}
${extra}`;
}
const THREE = [service('payments', 9001), service('orders', 9002), service('users', 9003)].join('---\n');

class Watched {
  readonly results: SourceResult[] = [];
  readonly source: FileSource;
  constructor(path: string, options?: ConstructorParameters<typeof FileSource>[1]) {
    this.source = new FileSource(path, options);
  }
  async start(): Promise<this> {
    await this.source.start((r) => this.results.push(r));
    return this;
  }
  get latest(): SourceResult {
    const last = this.results.at(-1);
    if (!last) throw new Error('no result yet');
    return last;
  }
  endpointPorts(): Record<string, number | undefined> {
    return Object.fromEntries([...this.latest.model.services].map(([key, s]) => [key, s.endpoints[0]?.ports.http]));
  }
  /** Waits for a delivered result with an error whose message contains `text`. */
  error(text: string): Promise<ConfigError> {
    return until(`an error containing "${text}" (last: ${JSON.stringify(this.results.at(-1)?.errors)})`, () =>
      this.results.at(-1)?.errors.find((e) => e.message.includes(text)),
    );
  }
  /** The fewest services any delivered model had: the mesh was never wiped below this. */
  fewestServices(): number {
    return Math.min(...this.results.map((r) => r.model.services.size));
  }
}

const sources: Watched[] = [];
const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshcp-file-source-'));
  dirs.push(dir);
  return dir;
}
async function watch(path: string, options?: ConstructorParameters<typeof FileSource>[1]): Promise<Watched> {
  const watched = await new Watched(path, options).start();
  sources.push(watched);
  return watched;
}

afterEach(() => {
  for (const s of sources.splice(0)) s.source.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const SERVING = { 'shop/orders': 9002, 'shop/payments': 9001, 'shop/users': 9003 };

describe('file source: a file that goes bad keeps its last good content', () => {
  it('an emptied file (0 bytes, as a truncating writer leaves it) keeps serving, with an error', async () => {
    const file = join(tempDir(), 'mesh.yaml');
    writeFileSync(file, THREE);
    const w = await watch(file);
    expect(w.endpointPorts()).toEqual(SERVING);
    writeFileSync(file, '');
    const error = await w.error('the file is empty');
    expect(error.source).toBe(file);
    expect(w.endpointPorts()).toEqual(SERVING);
    expect(w.fewestServices()).toBe(3);
    // A deliberate "no objects" (a comment) is applied.
    writeFileSync(file, '# nothing here\n');
    await until('an empty model', () => w.latest.model.services.size === 0);
    expect(w.latest.errors).toEqual([]);
  });

  it('a removed or moved-away file keeps serving, with an error; it is applied again when it comes back', async () => {
    const dir = tempDir();
    const file = join(dir, 'mesh.yaml');
    writeFileSync(file, THREE);
    const w = await watch(file);
    renameSync(file, join(dir, 'moved-away.txt'));
    await w.error('removed or moved away');
    expect(w.endpointPorts()).toEqual(SERVING);
    rmSync(join(dir, 'moved-away.txt'));
    writeFileSync(file, service('payments', 9100));
    await until('the returned file applied', () => w.endpointPorts()['shop/payments'] === 9100 && w.latest.errors.length === 0);
    expect(w.latest.model.services.size).toBe(1);
    expect(w.fewestServices()).toBe(1);
  });

  it('in a directory: a deleted file keeps serving; a renamed file is not a conflict', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.yaml'), service('payments', 9001));
    writeFileSync(join(dir, 'b.yaml'), service('orders', 9002));
    const w = await watch(dir);
    renameSync(join(dir, 'a.yaml'), join(dir, 'c.yaml'));
    await until('the rename settled', () => w.results.length > 1 && w.latest.errors.length === 0 && w.latest.model.services.size === 2);
    rmSync(join(dir, 'b.yaml'));
    await w.error('removed or moved away');
    expect(w.endpointPorts()).toEqual({ 'shop/orders': 9002, 'shop/payments': 9001 });
    expect(w.fewestServices()).toBe(2);
  });

  it('an unreadable file keeps serving, with an error', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.yaml'), THREE);
    const w = await watch(dir);
    // Tests run as root, where permissions do not stop a read; a directory in its place does.
    rmSync(join(dir, 'a.yaml'));
    mkdirSync(join(dir, 'a.yaml'));
    await w.error('cannot read: a directory, not a regular file');
    expect(w.endpointPorts()).toEqual(SERVING);
    expect(w.fewestServices()).toBe(3);
  });

  it('a file cut off mid-write (the writer died) keeps its last good content', async () => {
    const file = join(tempDir(), 'mesh.yaml');
    writeFileSync(file, THREE);
    const w = await watch(file);
    const edited = THREE.replace('9001', '9101');
    // Cut inside the third document's spec: the first two parse, the third is incomplete.
    writeFileSync(file, edited.slice(0, edited.lastIndexOf('ports:')));
    const error = await w.error('looks truncated');
    expect(error.path).toBe('document 3');
    // The incomplete document's own errors are listed too, in case it was not a truncation.
    expect(w.latest.errors.some((e) => e.object === 'MeshService shop/users' && e.path === 'spec')).toBe(true);
    expect(w.endpointPorts()).toEqual(SERVING);
    expect(w.fewestServices()).toBe(3);
  });

  it('a complete edit that shrinks the file and breaks its last object is not mistaken for a truncation', async () => {
    const file = join(tempDir(), 'mesh.yaml');
    writeFileSync(file, THREE);
    const w = await watch(file);
    writeFileSync(file, [service('payments', 9101), service('users', 70000)].join('---\n'));
    const error = await w.error('must be 1-65535');
    expect(error).toMatchObject({ object: 'MeshService shop/users', path: 'spec.endpoints[0].port' });
    expect(w.latest.errors.some((e) => e.message.includes('truncated'))).toBe(false);
    // orders was deleted, payments edited, users keeps its last good version.
    expect(w.endpointPorts()).toEqual({ 'shop/payments': 9101, 'shop/users': 9003 });
  });

  it('a file being written slowly is applied only once complete (stable across the window)', async () => {
    const file = join(tempDir(), 'mesh.yaml');
    writeFileSync(file, THREE);
    const w = await watch(file);
    const edited = THREE.replaceAll('900', '910');
    const fd = openSync(file, 'w');
    // Not an atomic write: truncate, half, a pause longer than the debounce, the rest.
    writeSync(fd, edited.slice(0, edited.length / 2));
    await sleep(50);
    writeSync(fd, edited.slice(edited.length / 2));
    closeSync(fd);
    await until('the complete edit applied', () => w.endpointPorts()['shop/users'] === 9103);
    expect(w.endpointPorts()).toEqual({ 'shop/orders': 9102, 'shop/payments': 9101, 'shop/users': 9103 });
    // Never a half file: every model delivered had all three services, with old or new ports only.
    expect(w.fewestServices()).toBe(3);
    for (const r of w.results)
      expect([...r.model.services.values()].every((s) => [9001, 9002, 9003, 9101, 9102, 9103].includes(s.endpoints[0]?.ports.http ?? 0))).toBe(true);
  });

  it('a 50 MiB file is not read: clear error, no event-loop stall, RSS stays low, the mesh keeps serving', async () => {
    const dir = tempDir();
    const file = join(dir, 'mesh.yaml');
    writeFileSync(file, THREE);
    const w = await watch(file);
    // Built outside the watched name, then renamed in: the source sees it whole at once.
    const big = join(dir, 'big.tmp');
    const chunk = Buffer.from(`${service('payments', 9001)}    - {address: 10.0.0.2, port: 9001}\n`.repeat(1000));
    const fd = openSync(big, 'w');
    for (let written = 0; written < 50 * 1024 * 1024; written += chunk.length) writeSync(fd, chunk);
    closeSync(fd);
    const rssBefore = process.memoryUsage().rss;
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    renameSync(big, file);
    const error = await w.error('more than the limit');
    await sleep(200);
    delay.disable();
    const rssGrowthMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    const maxDelayMs = delay.max / 1e6;
    console.log(`50 MiB file: max event-loop delay ${maxDelayMs.toFixed(1)} ms, RSS growth ${rssGrowthMiB.toFixed(1)} MiB`);
    expect(maxDelayMs).toBeLessThan(200);
    expect(rssGrowthMiB).toBeLessThan(20);
    expect(error.message.length).toBeLessThan(400);
    expect(error.message).toContain('2097152');
    expect(w.endpointPorts()).toEqual(SERVING);
  });

  it('the size limit is configurable', async () => {
    const file = join(tempDir(), 'mesh.yaml');
    writeFileSync(file, THREE);
    const w = await watch(file, { maxFileBytes: 100 });
    expect(w.latest.errors[0]?.message).toMatch(/more than the limit of 100 /);
    expect(w.latest.model.services.size).toBe(0);
  });

  it('error texts are bounded: a 1 MiB bad value is not copied into the error', async () => {
    const file = join(tempDir(), 'mesh.yaml');
    writeFileSync(file, `${THREE}---\n${service('huge', 9009).replace('10.0.0.1', 'x'.repeat(1024 * 1024))}`);
    const w = await watch(file);
    const error = w.latest.errors.find((e) => e.object === 'MeshService shop/huge');
    expect(error?.path).toBe('spec.endpoints[0].address');
    expect(error?.message.length).toBeLessThan(400);
    expect(w.latest.model.services.size).toBe(3);
  });
});

describe('file source: one object defined twice is a conflict, not an update', () => {
  it('across two files: the error names both files, the first definition serves', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.yaml'), service('payments', 9001));
    writeFileSync(join(dir, 'b.yaml'), service('payments', 9002));
    const w = await watch(dir);
    expect(w.endpointPorts()).toEqual({ 'shop/payments': 9001 });
    const [error] = w.latest.errors;
    expect(error).toMatchObject({ source: join(dir, 'b.yaml'), object: 'MeshService shop/payments', reason: 'conflict' });
    expect(error?.message).toContain(`${join(dir, 'b.yaml')} (document 1)`);
    expect(error?.message).toContain(`${join(dir, 'a.yaml')} (document 1)`);
  });

  it('the definition that was serving keeps serving, even when the newcomer sorts first', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'b.yaml'), service('payments', 9002));
    const w = await watch(dir);
    writeFileSync(join(dir, 'a.yaml'), service('payments', 9001));
    const error = await w.error('defined twice');
    expect(error.source).toBe(join(dir, 'a.yaml'));
    expect(w.endpointPorts()).toEqual({ 'shop/payments': 9002 });
    // Removing the newcomer's duplicate clears the error; the incumbent never stopped serving.
    writeFileSync(join(dir, 'a.yaml'), '# moved to b.yaml\n');
    await until('no errors', () => w.latest.errors.length === 0);
    expect(w.results.every((r) => r.model.services.get('shop/payments')?.endpoints[0]?.ports.http === 9002)).toBe(true);
  });

  it('within one file: the error names both documents', async () => {
    const file = join(tempDir(), 'mesh.yaml');
    writeFileSync(file, `${service('payments', 9001)}---\n${service('payments', 9002)}`);
    const w = await watch(file);
    expect(w.endpointPorts()).toEqual({ 'shop/payments': 9001 });
    expect(w.latest.errors.map((e) => e.message)).toEqual([expect.stringMatching(/mesh\.yaml \(document 2\).*mesh\.yaml \(document 1\), which keeps serving/)]);
  });
});
