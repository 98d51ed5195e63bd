/** The file source parses a rewritten file document by document: the same values as one whole-file parse, and only changed documents parsed again. */
import { writeFileSync } from 'node:fs';
import { mkdtemp, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { FileSource, parseByDocument } from '../src/source/file-source.js';

function wholeFile(text: string): unknown[] {
  return parseAllDocuments(text as string).map((d) => d.toJS({ maxAliasCount: 100 }));
}

const SHAPES: Record<string, string> = {
  'plain documents': 'a: 1\n---\nb: 2\n---\nc: [1, 2]\n',
  'leading marker': '---\na: 1\n---\nb: 2\n',
  'comments before the first marker': '# header\n\n# more\n---\na: 1\n---\nb: 2\n',
  'an implicit first document': 'a: 1\n---\nb: 2\n',
  'empty documents between markers': 'a: 1\n---\n---\nb: 2\n---\n',
  'marker with content on its line': '--- {a: 1}\n--- !!str text\n--- b\n',
  'dashes that are not markers': 'a: |\n  ----\n  --- inside\nb: "---"\n----: x\n',
  'document end markers': 'a: 1\n...\n---\nb: 2\n...\n',
  'anchors and aliases per document': 'x: &v 1\ny: *v\n---\nx: &v 2\nz: *v\n',
  'CRLF line ends': 'a: 1\r\n---\r\nb: 2\r\n',
  'no final newline': 'a: 1\n---\nb: 2',
};

describe('file source: document-by-document parse', () => {
  for (const [name, text] of Object.entries(SHAPES)) {
    it(`reads ${name} as one whole-file parse does`, () => {
      const result = parseByDocument(text, new Map());
      expect(result).toBeDefined();
      expect(result?.values).toEqual(wholeFile(text));
    });
  }

  it('reads a first document of comment-like lines in linear time (no backtracking on many #)', () => {
    // 40 '#' on one line before content took the old comment regex about 2^40 steps.
    const text = `${'#'.repeat(40)} ${'# '.repeat(5000)}\nkey: value\n---\nb: 2\n`;
    expect(parseByDocument(text, new Map())?.values).toEqual(wholeFile(text));
  });

  it('keeps the last good content of a file nested too deep to parse', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshcp-fs-'));
    const file = join(dir, 'mesh.yaml');
    const good =
      'apiVersion: meshcp.io/v1alpha1\nkind: MeshService\nmetadata: {name: web, namespace: shop}\nspec:\n  ports: [{name: http, port: 80, protocol: HTTP}]\n  endpoints: [{address: 10.0.0.1}]\n';
    writeFileSync(file, good);
    const source = new FileSource(file, { stableMs: 10 });
    await source.start(() => undefined);
    // The YAML parser recurses once per nesting level: 200,000 '[' overflow its stack.
    writeFileSync(file, '['.repeat(200_000));
    const result = source.load('start');
    source.stop();
    expect(result.model.services.has('shop/web')).toBe(true);
    expect(result.errors.map((e) => e.message).join('\n')).toMatch(/keeping the file's last good content/);
  });

  it('reads a document list longer than a call may take arguments (no spread of a million values)', () => {
    const values = parseByDocument('{}\n...\n'.repeat(200_000), new Map())?.values;
    expect(values).toHaveLength(200_000);
  });

  it('leaves files with directives or errors to the whole-file parse (its line numbers)', () => {
    expect(parseByDocument('%YAML 1.2\n---\na: 1\n', new Map())).toBeUndefined();
    expect(parseByDocument('a: 1\n---\nb: [1,\n', new Map())).toBeUndefined();
  });

  it('parses only the documents whose text changed, and shares the frozen values of the others', () => {
    const docs = Array.from({ length: 50 }, (_, i) => `kind: MeshService\nmetadata: {name: s${i}}\nspec: {port: ${8000 + i}}\n`);
    const first = parseByDocument(docs.join('---\n'), new Map());
    expect(first?.values).toHaveLength(50);
    docs[7] = 'kind: MeshService\nmetadata: {name: s7}\nspec: {port: 1}\n';
    const second = parseByDocument(docs.join('---\n'), first?.parsed ?? new Map());
    expect(second?.values).toEqual(wholeFile(docs.join('---\n')));
    const reused = second?.values.filter((value, i) => value === first?.values[i]) ?? [];
    expect(reused).toHaveLength(49);
    expect(second?.values[7]).not.toBe(first?.values[7]);
    expect(Object.isFrozen((second?.values[3] as { spec?: object } | undefined)?.spec)).toBe(true);
    // The memo holds this file's documents only, not every version ever seen.
    expect(second?.parsed.size).toBe(50);
  });

  it('applies a file replaced faster than the stability window, within the cap', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshcp-fs-'));
    const file = join(dir, 'mesh.yaml');
    const doc = (port: number) =>
      `apiVersion: meshcp.io/v1alpha1\nkind: MeshService\nmetadata: {name: web, namespace: shop}\nspec:\n  ports: [{name: http, port: 80, protocol: HTTP}]\n  endpoints: [{address: 10.0.0.1, port: ${port}}]\n`;
    writeFileSync(file, doc(1000));
    const source = new FileSource(file, { stableMs: 50 });
    const seen: number[] = [];
    await source.start((result) => {
      const port = result.model.services.get('shop/web')?.endpoints[0]?.ports;
      seen.push(Number(Object.values(port ?? {})[0] ?? result.model.services.get('shop/web')?.endpoints[0]?.port));
    });
    // Rewritten by rename every 10 ms for 1.2 s: never the same across one 50 ms window.
    let port = 1000;
    const until = Date.now() + 1200;
    while (Date.now() < until) {
      port++;
      writeFileSync(`${file}.tmp`, doc(port));
      await rename(`${file}.tmp`, file);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const changedDuring = seen.filter((p) => p > 1000).length;
    source.stop();
    expect(changedDuring).toBeGreaterThan(0);
  });
});
