/**
 * Summarises V8 CPU profiles (`node --cpu-prof`): self time per function and per
 * source file, as markdown.  `node bench/dist/profile-summary.js DIR_OR_FILE [TOP]`
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from './procs.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

function files(path: string): string[] {
  if (statSync(path).isFile()) return [path];
  return readdirSync(path).flatMap((name) => files(join(path, name)));
}

function shortUrl(url: string): string {
  if (!url) return '(native)';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) return path.slice(nm + 'node_modules/'.length);
  return path.startsWith(REPO_ROOT) ? relative(REPO_ROOT, path) : path;
}

export function summarizeProfile(path: string, top = 25): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number;
    // timeDeltas[i] is the time before sample i; attribute the following delta to it.
    const dt = (deltas[i + 1] ?? 0) / 1000;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const [id, ms] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const f = node.callFrame;
    const file = shortUrl(f.url);
    const fn = `${f.functionName || '(anonymous)'} — ${file}${f.url ? `:${f.lineNumber + 1}` : ''}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
    byFile.set(file, (byFile.get(file) ?? 0) + ms);
  }
  const idle = byFunction.get('(idle) — (native)') ?? 0;
  const busy = total - idle;
  const rows = (m: Map<string, number>) =>
    [...m.entries()]
      .filter(([k]) => !k.startsWith('(idle)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, ms]) => `| ${k.replace(/\|/g, '\\|')} | ${ms.toFixed(0)} | ${((100 * ms) / busy).toFixed(1)} % |`);
  return [
    `Profile ${relative(REPO_ROOT, path)}: ${(total / 1000).toFixed(1)} s wall, ${(busy / 1000).toFixed(1)} s on the main thread (not idle).`,
    '',
    '| function (self time) | ms | of busy |',
    '| --- | ---: | ---: |',
    ...rows(byFunction),
    '',
    '| file / package (self time) | ms | of busy |',
    '| --- | ---: | ---: |',
    ...rows(new Map([...byFile].map(([k, v]) => [k, v]))).slice(0, 15),
  ].join('\n');
}

export function summarizeProfiles(dir: string, top = 25): string {
  let list: string[] = [];
  try {
    list = files(dir).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    return `no profiles in ${dir}`;
  }
  return list.map((f) => summarizeProfile(f, top)).join('\n\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(`${summarizeProfiles(process.argv[2] ?? '.', Number(process.argv[3] ?? 25))}\n`);
}
