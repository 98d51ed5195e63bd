/**
 * The embedded default source: one YAML file or a directory of them, watched.
 *
 * A source must never wipe the mesh by accident, so a file keeps its last good
 * content, with an error at /debug/errors, when it
 * - does not parse, is empty (only whitespace), or looks cut off mid-write (its
 *   last document is incomplete and the file shrank);
 * - is removed or moved away (to remove objects, delete them from the file: a
 *   file holding only a comment is a deliberate "no objects");
 * - cannot be read, is not a regular file (a FIFO, socket, device or directory
 *   named *.yaml: opened non-blocking and never read), is larger than
 *   `maxFileBytes` or holds more than `maxDocuments` documents (neither is parsed);
 * - has a document whose identity (kind, apiVersion, metadata.name/namespace)
 *   cannot be read: the objects this file served and no longer names keep their
 *   last good version until the file is valid again, since a typo'd name is not
 *   a deletion. A valid file that drops an object deletes it.
 * A changed file is applied only once its size and mtime stayed the same across
 * the stability window, so a file being written is not read half-way. A writer
 * that stops exactly between two documents for longer than the window cannot be
 * told from an edit that deleted the documents after it: write a temporary file
 * and rename it into place. Objects
 * then go through translators' resolveLastGood, as the Kubernetes source's do: an
 * invalid object keeps its last good version; one defined twice (across files or
 * within one) is a conflict and the definition that was serving keeps serving.
 */
import { closeSync, constants, type FSWatcher, fstatSync, openSync, readdirSync, readSync, type Stats, statSync, watch } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  type ConfigError,
  emptyLastGood,
  isUnidentifiedDocument,
  type LastGoodState,
  type Manifest,
  type MeshSource,
  type ObjectOutcome,
  parseManifests,
  resolveLastGood,
  type SourceObject,
  type SourceResult,
  truncateText,
} from '@meshcp/translators';
import { type Document, parseAllDocuments } from 'yaml';
import { type Logger, logger } from '../log.js';
import { Debouncer } from './debounce.js';

const MANIFEST_FILE = /\.(ya?ml|json)$/;
/**
 * The YAML parser reads about 1 MB/s on the loaded development host (a 1 MiB file of
 * 6,000 services: about a second; docs/performance.md, "The file source: size and
 * stalls"), and a first load or a full rewrite blocks the event loop for that long. Past
 * this a file is not read (MESHCP_MAX_FILE_BYTES): 2 MiB holds the benchmark's
 * 1,000-service mesh (1.26 MB) with room, and loads in about 2 s on the loaded host.
 */
export const DEFAULT_MAX_FILE_BYTES = 2 * 1024 * 1024;
/**
 * Documents in one file: `--- {}` repeated fills 2 MiB with 300,000 of them, each one an
 * error (20,000 take about 0.2 s); a 2 MiB file of real services holds about 12,000.
 */
export const DEFAULT_MAX_DOCUMENTS = 20_000;
/** Errors listed per file and reload (the rest are counted): one bad file must not flood the log and /debug/errors. */
export const MAX_ERRORS_PER_FILE = 100;
export const DEFAULT_STABLE_MS = 100;
/** Windows a file may keep changing before it is read as it is. */
const MAX_SETTLE_WINDOWS = 5;

export interface FileSourceOptions {
  /** Largest manifest file meshcp reads (default 2 MiB, or MESHCP_MAX_FILE_BYTES). */
  maxFileBytes?: number;
  /** Most documents one file may hold (default 20,000). */
  maxDocuments?: number;
  /** A changed file is applied once its size and mtime stay unchanged this long. */
  stableMs?: number;
}

/** What is known about one file: the content last examined, and the last good documents. */
interface FileState {
  /** size, mtime and inode of the content last examined; unchanged → nothing to re-read. */
  signature: string;
  /** The documents of the last good content, served while the file is broken or gone. */
  docs: Manifest[];
  /** Size of the last good content, to tell a truncated file from an edited one. */
  goodSize: number;
  /** What is wrong with the content last examined (none if it is the good content). */
  errors: ConfigError[];
  /** The last good parse of each document's text: a rewrite that changes one document parses that one again. */
  parsedDocuments: Map<string, readonly unknown[]>;
}

function objectId(doc: unknown): string | undefined {
  if (typeof doc !== 'object' || doc === null) return undefined;
  const o = doc as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  if (typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string') return undefined;
  return `${o.kind} ${typeof o.metadata.namespace === 'string' ? o.metadata.namespace : 'default'}/${o.metadata.name}`;
}

/** A line that starts a YAML document: `---` alone or followed by a space. */
function startsDocument(text: string, lineStart: number): boolean {
  if (!text.startsWith('---', lineStart)) return false;
  const after = text[lineStart + 3];
  return after === undefined || after === ' ' || after === '\t' || after === '\n' || after === '\r';
}

/** Whether a text holds only blank and comment lines (line by line: a regex of nested optional groups backtracks exponentially on a line of many '#'). */
function onlyComments(text: string): boolean {
  for (const line of text.split('\n')) {
    const trimmed = line.trimStart();
    if (trimmed !== '' && trimmed !== '\r' && !trimmed.startsWith('#')) return false;
  }
  return true;
}

/** The file's text cut before each document start; comments before the first one go with it, as the parser reads them. */
function splitDocuments(text: string): string[] {
  const chunks: string[] = [];
  let start = 0;
  let lineStart = 0;
  while (lineStart < text.length) {
    if (lineStart > start && startsDocument(text, lineStart)) {
      chunks.push(text.slice(start, lineStart));
      start = lineStart;
    }
    const next = text.indexOf('\n', lineStart);
    lineStart = next === -1 ? text.length : next + 1;
  }
  chunks.push(text.slice(start));
  if (chunks.length > 1 && onlyComments(chunks[0] ?? '')) chunks.splice(0, 2, `${chunks[0]}${chunks[1]}`);
  return chunks;
}

/** Lines that start (`---`) or end (`...`) a YAML document: about the number of documents, counted without parsing. */
function documentMarkers(text: string): number {
  let count = 0;
  for (const _ of text.matchAll(/^(?:---|\.\.\.)(?:[ \t]|\r?$)/gm)) count++;
  return count;
}

function deepFreeze(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Why a file's text is not taken: parser errors with the file's own line numbers. */
interface ParseFailure {
  failure: { message: string; line?: number }[];
}

type ChunkParse = { values: unknown[]; parsed: Map<string, readonly unknown[]> } | ParseFailure;

/** Lines before `chunks[index]` in the text they were cut from. */
function linesBefore(chunks: readonly string[], index: number): number {
  let lines = 0;
  for (let i = 0; i < index; i++) {
    const chunk = chunks[i] as string;
    for (let at = chunk.indexOf('\n'); at !== -1; at = chunk.indexOf('\n', at + 1)) lines++;
  }
  return lines;
}

/**
 * The file's documents as values, parsing only the documents whose text is not in
 * `previous` (a rewrite of one service in a 1,000-service file parses one document, not
 * the whole file). A document that does not parse fails the file with that document's
 * errors, moved to the file's line numbers: the documents after it are not parsed (the
 * file keeps its last good content anyway). Undefined when the file has directives (they
 * apply to the documents after them): the caller parses the whole file then. More than
 * `maxDocuments` documents fail before any is parsed. Reused values are frozen: they are
 * shared between loads.
 */
function parseChunks(text: string, previous: ReadonlyMap<string, readonly unknown[]>, maxDocuments: number): ChunkParse | undefined {
  if (/^%/m.test(text)) return undefined;
  const chunks = splitDocuments(text);
  if (chunks.length > maxDocuments) return { failure: [{ message: tooManyDocuments(`at least ${chunks.length}`, maxDocuments) }] };
  const parsed = new Map<string, readonly unknown[]>();
  const values: unknown[] = [];
  for (const [index, chunk] of chunks.entries()) {
    let docs = parsed.get(chunk) ?? previous.get(chunk);
    if (!docs) {
      try {
        const list = parseAllDocuments(chunk);
        const documents: Document[] = Array.isArray(list) ? list : [list as unknown as Document];
        const broken = documents.flatMap((d) => d.errors);
        if (broken.length > 0) {
          const offset = linesBefore(chunks, index);
          return {
            failure: broken.slice(0, 5).map((e) => ({
              // The parser's "at line N, column M" counts from the document's start: the column is kept, the line moves to the path.
              message: `${e.code}: ${(e.message.split('\n')[0] ?? '').trim().replace(/ at line \d+, column \d+:?$/, '')}${e.linePos ? ` (column ${e.linePos[0].col})` : ''}`,
              ...(e.linePos ? { line: e.linePos[0].line + offset } : {}),
            })),
          };
        }
        docs = documents.map((d) => deepFreeze(d.toJS({ maxAliasCount: 100 })));
      } catch (error) {
        // Too deep to parse (the parser recurses once per nesting level: 200,000 '[' overflow its stack) or an alias bomb.
        return { failure: [{ message: `cannot parse: ${(error as Error).message}`, line: linesBefore(chunks, index) + 1 }] };
      }
    }
    parsed.set(chunk, docs);
    // One push per value: a spread of a million documents (`{}\n...\n` repeated) exceeds the call's argument limit.
    for (const doc of docs) values.push(doc);
    if (values.length > maxDocuments) return { failure: [{ message: tooManyDocuments(`more than ${maxDocuments}`, maxDocuments) }] };
  }
  return { values, parsed };
}

function tooManyDocuments(count: string, maxDocuments: number): string {
  return `the file holds ${count} documents, more than the limit of ${maxDocuments}; not parsed`;
}

/** parseChunks without a document limit; undefined when the whole file must be parsed (directives) or a document does not parse. */
export function parseByDocument(
  text: string,
  previous: ReadonlyMap<string, readonly unknown[]>,
): { values: unknown[]; parsed: Map<string, readonly unknown[]> } | undefined {
  const result = parseChunks(text, previous, Number.POSITIVE_INFINITY);
  return result && !('failure' in result) ? result : undefined;
}

/**
 * At most MAX_ERRORS_PER_FILE errors per file, then one counting the rest: a file of
 * 20,000 broken documents is 101 errors in the log and at /debug/errors, not 20,000.
 */
function capPerFile(errors: readonly ConfigError[]): ConfigError[] {
  const perFile = new Map<string, number>();
  const kept: ConfigError[] = [];
  for (const error of errors) {
    const count = (perFile.get(error.source) ?? 0) + 1;
    perFile.set(error.source, count);
    if (count <= MAX_ERRORS_PER_FILE) kept.push(error);
  }
  for (const [source, count] of perFile)
    if (count > MAX_ERRORS_PER_FILE)
      kept.push(fileError(source, `${count - MAX_ERRORS_PER_FILE} more errors in this file are not listed (the first ${MAX_ERRORS_PER_FILE} are)`));
  return kept;
}

function signatureOf(stats: Stats): string {
  return `${stats.size}:${stats.mtimeMs}:${stats.ino}`;
}

function fileError(source: string, message: string, path = ''): ConfigError {
  return { source, object: 'file', path, message: truncateText(message) };
}

/** What a non-regular file is, for the error; undefined for a regular file. */
function notRegular(stats: Stats): string | undefined {
  if (stats.isFile()) return undefined;
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

class NotRegularFile extends Error {}

/**
 * Reads at most `expected + 1` bytes: a file that grew since its stat is caught, never
 * read whole. Opened non-blocking, so a FIFO swapped in after the stat does not wait
 * for a writer (a blocking open of a FIFO never returns, and takes the event loop
 * with it), and checked to be a regular file before the first read.
 */
function readExpected(file: string, expected: number): Buffer {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const what = notRegular(fstatSync(fd));
    if (what) throw new NotRegularFile(what);
    const buffer = Buffer.alloc(expected + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, length);
      if (n === 0) break;
      length += n;
    }
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

function notRegularError(file: string, what: string): ConfigError {
  return fileError(file, `cannot read: ${what}, not a regular file; not read, keeping its last good content`);
}

export class FileSource implements MeshSource {
  readonly name: string;
  private readonly path: string;
  private readonly maxFileBytes: number;
  private readonly maxDocuments: number;
  private readonly stableMs: number;
  private readonly fileStates = new Map<string, FileState>();
  /** Signature of a changed file first seen at the previous check: applied once it is seen again unchanged. */
  private readonly settling = new Map<string, string>();
  /** When each file began to settle: one rewritten faster than the window is read anyway after MAX_SETTLE_WINDOWS. */
  private readonly settlingSince = new Map<string, number>();
  private settleTimer?: NodeJS.Timeout;
  private lastGood: LastGoodState = emptyLastGood();
  private watcher?: FSWatcher;
  private readonly reload = new Debouncer(30, 300, () => this.load('change'));
  private readonly log: Logger = logger('file-source');
  private lastErrorsText = '';

  private onUpdate: (result: SourceResult) => void = () => undefined;

  constructor(path: string, options: FileSourceOptions = {}) {
    this.path = resolve(path);
    this.name = `file:${this.path}`;
    const fromEnv = Number(process.env.MESHCP_MAX_FILE_BYTES);
    this.maxFileBytes = options.maxFileBytes ?? (Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : DEFAULT_MAX_FILE_BYTES);
    this.maxDocuments = options.maxDocuments ?? DEFAULT_MAX_DOCUMENTS;
    this.stableMs = options.stableMs ?? DEFAULT_STABLE_MS;
  }

  /** Loads once and starts watching. */
  async start(onUpdate: (result: SourceResult) => void): Promise<void> {
    this.onUpdate = onUpdate;
    this.load();
    const isDirectory = this.isDirectory();
    const watchDir = isDirectory ? this.path : dirname(this.path);
    // Watch the directory, not the file: editors and `mv` replace files by rename.
    this.watcher = watch(watchDir, { persistent: false }, (_event, name) => {
      if (isDirectory ? !name || MANIFEST_FILE.test(String(name)) : String(name) === basename(this.path)) this.reload.trigger();
    });
    this.watcher.on('error', (error) => this.log.error('watch failed', { error: String(error) }));
  }

  stop(): void {
    this.reload.cancel();
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
    this.watcher?.close();
  }

  private isDirectory(): boolean {
    try {
      return statSync(this.path).isDirectory();
    } catch {
      return false;
    }
  }

  /** The manifest files there are now, or an error saying why there are none. */
  private listFiles(): { files: string[]; error?: ConfigError } {
    try {
      if (!statSync(this.path).isDirectory()) return { files: [this.path] };
      const files = readdirSync(this.path)
        .filter((name) => MANIFEST_FILE.test(name))
        .sort()
        .map((name) => join(this.path, name));
      return files.length > 0 ? { files } : { files, error: fileError(this.path, 'no manifest files (*.yaml, *.yml, *.json) in the directory') };
    } catch (error) {
      return { files: [], error: fileError(this.path, `cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`) };
    }
  }

  /**
   * Reads what changed and delivers the model. `start` (the first load, and the
   * CLI's one-shot load) reads files as they are; `change` (the watcher) applies a
   * changed file only once it has stayed the same for `stableMs`.
   */
  load(mode: 'start' | 'change' = 'start'): SourceResult {
    const { files, error: listError } = this.listFiles();
    const fileErrors: ConfigError[] = listError && this.fileStates.size === 0 ? [listError] : [];
    let settling = false;
    for (const file of files) {
      if (this.examine(file, mode) === 'settling') settling = true;
    }
    if (settling) this.scheduleSettleCheck();

    // A removed file keeps its last good objects, unless another file now defines them (a rename).
    const liveIds = new Set(files.flatMap((file) => (this.fileStates.get(file)?.docs ?? []).map((m) => objectId(m.doc))));
    const objects: SourceObject[] = [];
    // Live files in name order, then removed ones: the model's order does not depend on history.
    const live = new Set(files);
    const removed = [...this.fileStates.keys()].filter((file) => !live.has(file)).sort();
    for (const file of [...files, ...removed]) {
      const state = this.fileStates.get(file);
      if (!state) continue;
      const present = live.has(file);
      let docs = state.docs;
      if (!present) {
        docs = docs.filter((m) => !liveIds.has(objectId(m.doc)));
        if (docs.length === 0) {
          this.fileStates.delete(file);
          this.settling.delete(file);
          continue;
        }
        fileErrors.push(
          fileError(
            file,
            `the file was removed or moved away; its last good content (${docs.length} objects) keeps serving. To remove objects, delete them from the file, not the file`,
          ),
        );
      } else {
        fileErrors.push(...state.errors);
      }
      for (const manifest of docs) objects.push({ key: `${objectId(manifest.doc) ?? `#${manifest.document}`}|${file}`, manifest });
    }

    let resolved = resolveLastGood(objects, this.lastGood);
    const held = this.holdForUnidentified(files, objects, resolved.outcomes);
    if (held.objects.length > 0) resolved = resolveLastGood([...objects, ...held.objects], this.lastGood);
    this.lastGood = resolved.state;
    const errors = capPerFile([...fileErrors, ...held.errors, ...resolved.errors]);
    const text = JSON.stringify(errors);
    if (text !== this.lastErrorsText) {
      for (const error of errors) this.log.error('rejected', { ...error });
      if (errors.length === 0 && this.lastErrorsText !== '') this.log.info('all objects accepted');
      this.lastErrorsText = text;
    }
    const result = { model: resolved.model, errors };
    this.onUpdate(result);
    return result;
  }

  /**
   * A document whose kind, apiVersion, name or namespace cannot be read is no object
   * meshcp can match to its last good version: the object it was (a typo in the name
   * key, a capital in the name) would otherwise count as deleted. So in a file holding
   * one, the objects the file served before and no longer names are held at their last
   * good version, until the file is valid again.
   */
  private holdForUnidentified(
    files: readonly string[],
    objects: readonly SourceObject[],
    outcomes: readonly ObjectOutcome[],
  ): { objects: SourceObject[]; errors: ConfigError[] } {
    const unidentified = new Map<string, number[]>();
    outcomes.forEach((outcome, i) => {
      const manifest = (objects[i] as SourceObject).manifest;
      if (!outcome.invalid.some(isUnidentifiedDocument)) return;
      const documents = unidentified.get(manifest.source) ?? [];
      documents.push(manifest.document ?? 0);
      unidentified.set(manifest.source, documents);
    });
    const held: SourceObject[] = [];
    const errors: ConfigError[] = [];
    if (unidentified.size === 0) return { objects: held, errors };
    const liveFiles = new Set(files);
    const namedNow = new Set(objects.map((o) => objectId(o.manifest.doc)));
    for (const [file, documents] of unidentified) {
      if (!liveFiles.has(file)) continue;
      const names: string[] = [];
      for (const key of this.lastGood.serving) {
        const version = this.lastGood.versions.get(key);
        if (!version || version.manifest.source !== file) continue;
        const id = objectId(version.manifest.doc);
        // Still named by a document (this file's or another's, a move): that one decides.
        if (id === undefined || namedNow.has(id)) continue;
        held.push({ key, manifest: version.manifest });
        names.push(id);
      }
      if (names.length === 0) continue;
      const listed = (items: readonly (string | number)[]) => items.slice(0, 5).join(', ') + (items.length > 5 ? ` and ${items.length - 5} more` : '');
      errors.push(
        fileError(
          file,
          `document ${listed(documents)} has no readable kind, apiVersion, name or namespace, so meshcp cannot tell which object it is; the objects this file served and no longer names (${names.length}) keep their last good version until the file is valid again: ${listed(names)}`,
          `document ${documents[0]}`,
        ),
      );
    }
    return { objects: held, errors };
  }

  private scheduleSettleCheck(): void {
    if (this.settleTimer) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      this.load('change');
    }, this.stableMs);
  }

  /** Brings one file's state up to date; 'settling' when it changed and must be looked at again. */
  private examine(file: string, mode: 'start' | 'change'): 'settled' | 'settling' {
    const state = this.fileStates.get(file) ?? { signature: '', docs: [], goodSize: 0, errors: [], parsedDocuments: new Map() };
    this.fileStates.set(file, state);
    let stats: Stats;
    try {
      stats = statSync(file);
    } catch (error) {
      state.signature = '';
      state.errors = [fileError(file, `cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; keeping its last good content`)];
      return 'settled';
    }
    const signature = signatureOf(stats);
    if (signature === state.signature) return 'settled';
    const what = notRegular(stats);
    if (what) {
      state.signature = signature;
      state.errors = [notRegularError(file, what)];
      return 'settled';
    }
    if (stats.size > this.maxFileBytes) {
      // Not read at all: parsing 50 MiB of YAML would stall the event loop for seconds.
      state.signature = signature;
      state.errors = [
        fileError(
          file,
          `the file is ${stats.size} bytes, more than the limit of ${this.maxFileBytes} (MESHCP_MAX_FILE_BYTES); not read, keeping its last good content`,
        ),
      ];
      return 'settled';
    }
    if (mode === 'change' && this.settling.get(file) !== signature) {
      const since = this.settlingSince.get(file) ?? Date.now();
      this.settlingSince.set(file, since);
      // A file replaced many times a second (a generator renaming each version into place)
      // never looks the same across a window; past the cap it is read as it is, and the
      // parse and truncation checks below keep its last good content if it is half-written.
      if (Date.now() - since < MAX_SETTLE_WINDOWS * this.stableMs) {
        this.settling.set(file, signature);
        return 'settling';
      }
    }
    this.settling.delete(file);
    this.settlingSince.delete(file);
    let bytes: Buffer;
    try {
      bytes = readExpected(file, stats.size);
    } catch (error) {
      state.signature = error instanceof NotRegularFile ? signature : '';
      state.errors = [
        error instanceof NotRegularFile
          ? notRegularError(file, error.message)
          : fileError(file, `cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; keeping its last good content`),
      ];
      return 'settled';
    }
    if (bytes.length !== stats.size) {
      // Written to while being read: look again once it settles.
      this.settling.set(file, '');
      return mode === 'change' ? 'settling' : 'settled';
    }
    state.signature = signature;
    this.parse(file, bytes, state);
    return 'settled';
  }

  private parse(file: string, bytes: Buffer, state: FileState): void {
    const text = bytes.toString('utf8');
    if (text.trim() === '') {
      // Zero bytes is what a truncating writer (`>` redirect, a crashed editor) leaves behind.
      state.errors =
        state.docs.length > 0
          ? [fileError(file, 'the file is empty; keeping its last good content. To remove every object, leave a comment in the file (e.g. "# no objects")')]
          : [];
      return;
    }
    const byDocument = parseChunks(text, state.parsedDocuments, this.maxDocuments);
    if (byDocument && 'failure' in byDocument) {
      state.errors = byDocument.failure.map((f) =>
        fileError(file, `${f.message}; keeping the file's last good content`, f.line === undefined ? '' : `line ${f.line}`),
      );
      return;
    }
    if (byDocument) {
      const docs = byDocument.values.map((doc, i) => ({ source: file, doc, document: i + 1 })).filter((m) => m.doc !== null && m.doc !== undefined);
      this.accept(file, text, bytes.length, docs, state, byDocument.parsed);
      return;
    }
    // Directives (they apply to the documents after them): the whole file at once — counted first, like any other file.
    const markers = documentMarkers(text);
    if (markers > this.maxDocuments + 1) {
      state.errors = [fileError(file, `${tooManyDocuments(`about ${markers}`, this.maxDocuments)}; keeping the file's last good content`)];
      return;
    }
    let list: Document[];
    try {
      const parsed = parseAllDocuments(text);
      list = Array.isArray(parsed) ? parsed : [parsed as unknown as Document];
    } catch (error) {
      // The parser recurses once per nesting level: 200,000 '[' overflow its stack.
      state.errors = [fileError(file, `cannot parse: ${(error as Error).message}; keeping the file's last good content`)];
      return;
    }
    if (list.length > this.maxDocuments) {
      state.errors = [fileError(file, `${tooManyDocuments(String(list.length), this.maxDocuments)}; keeping the file's last good content`)];
      return;
    }
    const broken = list.flatMap((d) => d.errors);
    if (broken.length > 0) {
      state.errors = broken
        .slice(0, 5)
        .map((e) =>
          fileError(
            file,
            `${e.code}: ${(e.message.split('\n')[0] ?? '').trim()}; keeping the file's last good content`,
            e.linePos ? `line ${e.linePos[0].line}` : '',
          ),
        );
      return;
    }
    let docs: Manifest[];
    try {
      docs = list
        .map((d, i) => ({ source: file, doc: d.toJS({ maxAliasCount: 100 }) as unknown, document: i + 1 }))
        .filter((m) => m.doc !== null && m.doc !== undefined);
    } catch (error) {
      state.errors = [fileError(file, `${(error as Error).message}; keeping the file's last good content`)];
      return;
    }
    this.accept(file, text, bytes.length, docs, state, undefined);
  }

  /** Takes a parsed file as its new good content, unless it looks cut off mid-write. */
  private accept(file: string, text: string, size: number, docs: Manifest[], state: FileState, parsed: Map<string, readonly unknown[]> | undefined): void {
    const last = docs.at(-1);
    const lastErrors = last ? parseManifests([last]).errors.filter((e) => e.reason === undefined || e.reason === 'invalid') : [];
    // Cut off mid-write: the file shrank and its last document is invalid and either
    // lacks its skeleton or stops mid-line (editors end a file with a newline). The
    // documents after the cut are missing, not deleted, so the whole file is kept.
    const cutMidLine = !text.endsWith('\n');
    const noSkeleton = last !== undefined && (objectId(last.doc) === undefined || (last.doc as { spec?: unknown }).spec == null);
    if (last && lastErrors.length > 0 && (cutMidLine || noSkeleton) && state.docs.length > 0 && size < state.goodSize) {
      state.errors = [
        fileError(
          file,
          `the file looks truncated (it shrank from ${state.goodSize} to ${size} bytes and its last document is incomplete); keeping its last good content`,
          `document ${last.document}`,
        ),
        ...lastErrors.slice(0, 5),
      ];
      return;
    }
    state.docs = docs;
    state.goodSize = size;
    state.errors = [];
    state.parsedDocuments = parsed ?? new Map();
  }
}
