/** The CA's state in a file (the file source's store): written atomically, readable by its owner only. */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CaState, CaStore } from './ca.js';

export class FileCaStore implements CaStore {
  constructor(private readonly path: string) {}

  async load(): Promise<CaState | undefined> {
    if (!existsSync(this.path)) return undefined;
    let parsed: Partial<CaState>;
    try {
      parsed = JSON.parse(readFileSync(this.path, 'utf8')) as Partial<CaState>;
    } catch {
      // JSON.parse quotes the text around the error: it would put key material in the log.
      throw new Error(`CA state file ${this.path} is not valid JSON (a partial write?)`);
    }
    if (!parsed.signer?.certificatePem || !parsed.signer.privateKeyPem || !Array.isArray(parsed.roots)) {
      // Never echo the file: it holds a private key.
      throw new Error(`CA state file ${this.path} is not a meshcp CA state (signer or roots missing)`);
    }
    return {
      signer: parsed.signer,
      roots: parsed.roots,
      retiring: parsed.retiring ?? {},
      ...(typeof parsed.rotatedAt === 'number' ? { rotatedAt: parsed.rotatedAt } : {}),
    };
  }

  async save(state: CaState): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const temporary = `${this.path}.tmp-${process.pid}`;
    writeFileSync(temporary, JSON.stringify(state), { mode: 0o600 });
    chmodSync(temporary, 0o600);
    renameSync(temporary, this.path);
  }
}
