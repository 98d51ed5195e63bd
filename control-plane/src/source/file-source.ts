/**
 * The embedded default source: one YAML file or a directory of them, watched.
 * A file that does not parse keeps its last good content; an object that fails
 * validation keeps its last good version if it had one (and is left out if not);
 * either way the error is reported with file, object and field path.
 */
import { existsSync, type FSWatcher, readdirSync, readFileSync, statSync, watch } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { type ConfigError, type Manifest, type MeshSource, parseManifests, type SourceResult } from '@meshcp/translators';
import { parseAllDocuments } from 'yaml';
import { type Logger, logger } from '../log.js';
import { Debouncer } from './debounce.js';

const MANIFEST_FILE = /\.(ya?ml|json)$/;

function objectId(doc: unknown): string | undefined {
  if (typeof doc !== 'object' || doc === null) return undefined;
  const o = doc as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  if (typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string') return undefined;
  return `${o.kind} ${typeof o.metadata.namespace === 'string' ? o.metadata.namespace : 'default'}/${o.metadata.name}`;
}

export class FileSource implements MeshSource {
  readonly name: string;
  private readonly path: string;
  private readonly lastGoodFile = new Map<string, Manifest[]>();
  private readonly lastGoodObject = new Map<string, Manifest>();
  private watcher?: FSWatcher;
  private readonly reload = new Debouncer(30, 300, () => this.load());
  private readonly log: Logger = logger('file-source');
  private lastErrorsText = '';

  private onUpdate: (result: SourceResult) => void = () => undefined;

  constructor(path: string) {
    this.path = resolve(path);
    this.name = `file:${this.path}`;
  }

  /** Loads once and starts watching. */
  async start(onUpdate: (result: SourceResult) => void): Promise<void> {
    this.onUpdate = onUpdate;
    this.load();
    const isDirectory = existsSync(this.path) && statSync(this.path).isDirectory();
    const watchDir = isDirectory ? this.path : dirname(this.path);
    // Watch the directory, not the file: editors and `mv` replace files by rename.
    this.watcher = watch(watchDir, { persistent: false }, (_event, name) => {
      if (isDirectory ? !name || MANIFEST_FILE.test(String(name)) : String(name) === basename(this.path)) this.reload.trigger();
    });
    this.watcher.on('error', (error) => this.log.error('watch failed', { error: String(error) }));
  }

  stop(): void {
    this.reload.cancel();
    this.watcher?.close();
  }

  private files(): string[] {
    if (!existsSync(this.path)) return [];
    if (!statSync(this.path).isDirectory()) return [this.path];
    return readdirSync(this.path)
      .filter((name) => MANIFEST_FILE.test(name))
      .sort()
      .map((name) => join(this.path, name));
  }

  load(): SourceResult {
    const fileErrors: ConfigError[] = [];
    const manifests: Manifest[] = [];
    const files = this.files();
    if (files.length === 0) fileErrors.push({ source: this.path, object: 'file', path: '', message: 'no such file or no manifest files in directory' });
    for (const file of files) {
      let docs: Manifest[] | undefined;
      try {
        const parsed = parseAllDocuments(readFileSync(file, 'utf8'));
        const list = Array.isArray(parsed) ? parsed : [parsed];
        const broken = list.flatMap((d) => d.errors);
        if (broken.length > 0) {
          for (const e of broken)
            fileErrors.push({
              source: file,
              object: 'file',
              path: e.linePos ? `line ${e.linePos[0].line}` : '',
              message: `${e.code}: ${e.message.split('\n')[0]}`,
            });
        } else {
          docs = list.map((d) => ({ source: file, doc: d.toJS() as unknown })).filter((m) => m.doc !== null && m.doc !== undefined);
        }
      } catch (error) {
        fileErrors.push({ source: file, object: 'file', path: '', message: (error as Error).message });
      }
      if (docs) this.lastGoodFile.set(file, docs);
      else if (this.lastGoodFile.has(file)) this.log.warn('keeping the last good content of a file that does not parse', { file });
      manifests.push(...(this.lastGoodFile.get(file) ?? []));
    }
    for (const file of [...this.lastGoodFile.keys()]) if (!files.includes(file)) this.lastGoodFile.delete(file);

    // An object that is invalid on its own falls back to its last good version.
    const ownErrors: ConfigError[] = [];
    const substituted = manifests.map((manifest) => {
      const id = objectId(manifest.doc);
      const errors = parseManifests([manifest]).errors.filter((e) => e.reason !== 'unresolved');
      if (errors.length === 0) {
        if (id) this.lastGoodObject.set(id, manifest);
        return manifest;
      }
      ownErrors.push(...errors);
      return (id && this.lastGoodObject.get(id)) || manifest;
    });
    const parsed = parseManifests(substituted);
    const crossErrors = parsed.errors.filter((e) => e.reason === 'unresolved');
    const errors = [...fileErrors, ...ownErrors, ...crossErrors];
    const text = JSON.stringify(errors);
    if (text !== this.lastErrorsText) {
      for (const error of errors) this.log.error('rejected', { ...error });
      if (errors.length === 0 && this.lastErrorsText !== '') this.log.info('all objects accepted');
      this.lastErrorsText = text;
    }
    const result = { model: parsed.model, errors };
    this.onUpdate(result);
    return result;
  }
}
