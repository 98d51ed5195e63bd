/** The CA's state in a file (the file source's store): written atomically, readable by its owner only. */
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { CaState, CaStore } from './ca.js';

export class FileCaStore implements CaStore {
  constructor(private readonly path: string) {}

  async load(): Promise<CaState | undefined> {
    if (!existsSync(this.path)) return undefined;
    const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as Partial<CaState>;
    if (!parsed.signer?.certificatePem || !parsed.signer.privateKeyPem || !Array.isArray(parsed.roots)) {
      // Never echo the file: it holds a private key.
      throw new Error(`CA state file ${this.path} is not a meshcp CA state (signer or roots missing)`);
    }
    return { signer: parsed.signer, roots: parsed.roots, retiring: parsed.retiring ?? {} };
  }

  async save(state: CaState): Promise<void> {
    const temporary = `${this.path}.tmp-${process.pid}`;
    writeFileSync(temporary, JSON.stringify(state), { mode: 0o600 });
    chmodSync(temporary, 0o600);
    renameSync(temporary, this.path);
  }
}
