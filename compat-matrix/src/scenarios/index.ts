/**
 * The scenario registry. Every other module in this directory is a scenario file
 * exporting `scenarios: Scenario[]`; the registry finds them at run time, so adding
 * a row to the matrix is adding one file (see README.md here). Files starting with
 * `_` are helpers, not scenarios.
 */
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Scenario } from '../scenario.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const MODULE = /^(?!index\.|_)[A-Za-z0-9-]+\.(js|ts)$/;

let cached: Promise<Scenario[]> | undefined;

async function discover(): Promise<Scenario[]> {
  const files = readdirSync(HERE)
    .filter((f) => MODULE.test(f) && !f.endsWith('.d.ts'))
    .sort();
  const all: Scenario[] = [];
  for (const file of files) {
    const mod = (await import(pathToFileURL(`${HERE}/${file}`).href)) as { scenarios?: Scenario[] };
    if (!Array.isArray(mod.scenarios)) throw new Error(`scenario file ${file} must export \`scenarios: Scenario[]\``);
    all.push(...mod.scenarios);
  }
  const seen = new Set<string>();
  for (const s of all) {
    if (!/^[a-z0-9][a-z0-9.-]*$/.test(s.id)) throw new Error(`scenario id ${JSON.stringify(s.id)} must be lower-case words joined by dashes`);
    if (seen.has(s.id)) throw new Error(`scenario id ${s.id} is defined twice`);
    seen.add(s.id);
  }
  return all.sort((a, b) => (a.order ?? 100) - (b.order ?? 100) || a.id.localeCompare(b.id));
}

/** Every scenario, or those named (in registry order); an unknown name is an error. */
export async function loadScenarios(ids?: string[]): Promise<Scenario[]> {
  cached ??= discover();
  const all = await cached;
  if (!ids || ids.length === 0) return all;
  const unknown = ids.filter((id) => !all.some((s) => s.id === id));
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')} (known: ${all.map((s) => s.id).join(', ')})`);
  return all.filter((s) => ids.includes(s.id));
}
