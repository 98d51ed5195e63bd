/**
 * Hostile input to the file source: files that are not regular files, floods of
 * documents and errors, and a typo in an object's identity. None of them may hang
 * the source, flood the log, or stop an object that was serving. Real files, FIFOs
 * and sockets, the real watcher.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SourceResult } from '@meshcp/translators';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { FileSource, MAX_ERRORS_PER_FILE } from '../src/source/file-source.js';
import { until } from './fixtures.js';

function service(name: string, namespace: string, metadata = `{name: ${name}, namespace: ${namespace}}`): string {
  return `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: ${metadata}
spec:
  ports: [{name: http, port: 8080}]
  endpoints: [{address: 10.0.0.1}]
`;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshcp-file-source-hostile-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function watch(path: string, options?: ConstructorParameters<typeof FileSource>[1]): Promise<{ source: FileSource; results: SourceResult[] }> {
  const results: SourceResult[] = [];
  const source = new FileSource(path, { stableMs: 20, ...options });
  await source.start((r) => results.push(r));
  cleanups.push(() => source.stop());
  return { source, results };
}

const served = (result: SourceResult | undefined) => [...(result?.model.services.keys() ?? [])].sort();

describe('file source: a file that is not a regular file is rejected, never opened blocking', () => {
  it('a FIFO and a socket named *.yaml: each rejected with what it is, the other files keep serving', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.yaml'), service('a', 'shop'));
    const { results } = await watch(dir);
    execFileSync('mkfifo', [join(dir, 'b.yaml')]);
    // A blocking open of a FIFO waits for a writer, forever if none comes. This writer comes
    // after 1 s, so that the bug blocks this test for 1 s and fails it, rather than hanging it.
    const writer: ChildProcess = spawn('sh', ['-c', `sleep 1; exec 3>'${join(dir, 'b.yaml')}'; sleep 1`], { stdio: 'ignore' });
    cleanups.push(() => writer.kill('SIGKILL'));
    const socket: Server = createServer();
    await new Promise<void>((resolve) => socket.listen(join(dir, 'c.yaml'), resolve));
    cleanups.push(() => socket.close());
    const latest = await until('both rejected', () => {
      const r = results.at(-1);
      return r && r.errors.length >= 2 ? r : undefined;
    });
    expect(latest.errors.map((e) => [e.source, e.message])).toEqual([
      [join(dir, 'b.yaml'), 'cannot read: a FIFO, not a regular file; not read, keeping its last good content'],
      [join(dir, 'c.yaml'), 'cannot read: a socket, not a regular file; not read, keeping its last good content'],
    ]);
    expect(served(latest)).toEqual(['shop/a']);
    // The writer is still waiting (or asleep): nothing opened the FIFO and read it to its end.
    expect(writer.exitCode).toBeNull();
  });

  it('a FIFO as the one watched file: the first load returns, with the error', () => {
    const file = join(tempDir(), 'mesh.yaml');
    execFileSync('mkfifo', [file]);
    const writer = spawn('sh', ['-c', `sleep 1; exec 3>'${file}'; sleep 1`], { stdio: 'ignore' });
    cleanups.push(() => writer.kill('SIGKILL'));
    const result = new FileSource(file).load();
    expect(result.errors.map((e) => e.message)).toEqual(['cannot read: a FIFO, not a regular file; not read, keeping its last good content']);
  });
});

describe('file source: floods are bounded', () => {
  it('more documents than the limit: one error, the last good content keeps serving', async () => {
    const file = join(tempDir(), 'mesh.yaml');
    writeFileSync(file, service('a', 'shop'));
    const { source } = await watch(file, { maxDocuments: 1000 });
    writeFileSync(file, '--- {}\n'.repeat(20_000));
    const result = source.load('start');
    expect(result.errors).toEqual([
      {
        source: file,
        object: 'file',
        path: '',
        message: "the file holds at least 20000 documents, more than the limit of 1000; not parsed; keeping the file's last good content",
      },
    ]);
    expect(served(result)).toEqual(['shop/a']);
    // `...` ends documents without a `---`: counted once parsed.
    writeFileSync(file, '{}\n...\n'.repeat(2000));
    expect(source.load('start').errors.map((e) => e.message)).toEqual([
      "the file holds more than 1000 documents, more than the limit of 1000; not parsed; keeping the file's last good content",
    ]);
    // A directive sends the file to the whole-file parse: it is counted before that parse too, `---` and `...` alike.
    for (const flood of [`%YAML 1.2\n${'--- {}\n'.repeat(20_000)}`, `%YAML 1.2\n---\n${'{}\n...\n'.repeat(20_000)}`]) {
      writeFileSync(file, flood);
      const errors = source.load('start').errors.map((e) => e.message);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/^the file holds about 2000\d documents, more than the limit of 1000; not parsed/);
    }
    expect(served(source.load('start'))).toEqual(['shop/a']);
  });

  it('a file of 500 broken documents: the first 100 errors and a count of the rest, logged once each', () => {
    const file = join(tempDir(), 'mesh.yaml');
    writeFileSync(file, `${service('a', 'shop')}${'--- {}\n'.repeat(500)}`);
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    let result: SourceResult;
    try {
      result = new FileSource(file).load();
    } finally {
      spy.mockRestore();
    }
    expect(result.errors).toHaveLength(MAX_ERRORS_PER_FILE + 1);
    expect(result.errors.slice(0, MAX_ERRORS_PER_FILE).every((e) => e.path === 'kind')).toBe(true);
    expect(result.errors.at(-1)).toMatchObject({ source: file, message: '400 more errors in this file are not listed (the first 100 are)' });
    expect(lines.filter((l) => l.includes('"rejected"'))).toHaveLength(MAX_ERRORS_PER_FILE + 1);
    expect(served(result)).toEqual(['shop/a']);
  });

  it('a typo in one document of a large file reports the line in the file', () => {
    const file = join(tempDir(), 'mesh.yaml');
    const docs = Array.from({ length: 200 }, (_, i) => service(`s${i}`, 'shop'));
    writeFileSync(file, docs.join('---\n'));
    const source = new FileSource(file);
    expect(source.load().model.services.size).toBe(200);
    docs[150] = service('s150', 'shop', '{name: s150, namespace: shop');
    writeFileSync(file, docs.join('---\n'));
    const result = source.load('start');
    // Parsed alone, the document's lines are moved to the file's: the same line as a parse of the whole file.
    const whole = parseAllDocuments(docs.join('---\n')).flatMap((d) => d.errors)[0];
    expect(whole?.linePos?.[0].line).toBeGreaterThan(7 * 150);
    expect(result.errors[0]).toMatchObject({ path: `line ${whole?.linePos?.[0].line}` });
    expect(result.errors[0]?.message).toContain(whole?.code);
    expect(result.model.services.size).toBe(200);
  });
});

describe('file source: a typo in an identity is not a deletion', () => {
  const A = service('a', 'default');
  const B = service('b', 'team-b');

  for (const [label, metadata, readable] of [
    ['a typo in the name key', '{nmae: b, namespace: team-b}', 'metadata.name'],
    ['a capital in the name', '{name: B, namespace: team-b}', 'metadata.name'],
    ['a typo in the namespace', '{name: b, namespace: team_b}', 'metadata.namespace'],
  ] as const) {
    it(`${label}: the object keeps its last good version, with an error naming it`, async () => {
      const file = join(tempDir(), 'mesh.yaml');
      writeFileSync(file, `${A}---\n${B}`);
      const { source } = await watch(file);
      writeFileSync(file, `${A}---\n${service('b', 'team-b', metadata)}`);
      const result = source.load('start');
      expect(served(result)).toEqual(['default/a', 'team-b/b']);
      expect(result.errors.find((e) => e.path === readable)).toMatchObject({ source: file, object: 'document 2' });
      expect(result.errors.find((e) => e.object === 'file')).toMatchObject({
        source: file,
        path: 'document 2',
        message: expect.stringMatching(/keep their last good version until the file is valid again: MeshService team-b\/b$/),
      });
      // Fixed by removing the object from an otherwise valid file: that is a deletion.
      writeFileSync(file, A);
      const fixed = source.load('start');
      expect(served(fixed)).toEqual(['default/a']);
      expect(fixed.errors).toEqual([]);
    });
  }

  it('a valid object removed while another document is unreadable is held too; one renamed to a readable name is not held', async () => {
    const file = join(tempDir(), 'mesh.yaml');
    const C = service('c', 'shop');
    writeFileSync(file, [A, B, C].join('---\n'));
    const { source } = await watch(file);
    // b renamed to b2 (readable: b2 is new, b is gone), c's name key typo'd.
    writeFileSync(file, [A, service('b2', 'team-b'), service('c', 'shop', '{nmae: c, namespace: shop}')].join('---\n'));
    const result = source.load('start');
    // b is no longer named and the file has an unreadable document: b could be it, so b is held with c.
    expect(served(result)).toEqual(['default/a', 'shop/c', 'team-b/b', 'team-b/b2']);
    writeFileSync(file, [A, service('b2', 'team-b'), C].join('---\n'));
    expect(served(source.load('start'))).toEqual(['default/a', 'shop/c', 'team-b/b2']);
  });

  it('an object moved to another file is not held by a file with an unreadable document', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.yaml'), `${A}---\n${B}`);
    const { source } = await watch(dir);
    // Longer than before: a file that shrank and ends in an incomplete document looks truncated, a different rule.
    writeFileSync(join(dir, 'a.yaml'), `${A}---\n${service('x', 'shop', '{nmae: x, namespace: long-enough-for-the-file-to-grow}')}`);
    writeFileSync(join(dir, 'b.yaml'), B);
    const result = source.load('start');
    expect(served(result)).toEqual(['default/a', 'team-b/b']);
    expect(result.errors.some((e) => e.reason === 'conflict')).toBe(false);
    expect(result.errors.some((e) => e.object === 'file')).toBe(false);
  });
});
