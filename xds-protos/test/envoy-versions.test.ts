/**
 * xds-protos/envoy-api.json is the one place Envoy versions are listed. This fails when
 * the file contradicts itself, when goldens do not match its supported minors, when
 * another file hard-codes a version list or a default release, or when the docs say
 * something about API versions that the file does not.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  API_MINORS,
  CONSERVATIVE_ENVOY_VERSION,
  ENVOY_RELEASES,
  ENVOY_VERSIONS_FILE,
  type EnvoyVersionData,
  envoyVersionProblems,
  NEWEST_ENVOY_RELEASE,
  RUNTIME_MINOR,
  SUPPORTED_ENVOY_MINORS,
} from '../src/index.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const data: EnvoyVersionData = JSON.parse(readFileSync(ENVOY_VERSIONS_FILE, 'utf8'));

describe('envoy-api.json', () => {
  it('is consistent', () => {
    expect(envoyVersionProblems(data)).toEqual([]);
    expect(CONSERVATIVE_ENVOY_VERSION).toBe(`${SUPPORTED_ENVOY_MINORS[0]}.0`);
    expect(RUNTIME_MINOR).toBe(API_MINORS.at(-1));
    expect(NEWEST_ENVOY_RELEASE).toBe(ENVOY_RELEASES.at(-1));
  });

  it.each<[string, (d: EnvoyVersionData) => void, RegExp]>([
    ['a release of an unsupported minor', (d) => d.releases.splice(0, 1, '1.20.3'), /release 1.20.3 is not of a supported minor/],
    ['descriptors for an unsupported minor', (d) => Object.assign(d.descriptorModules, { '1.99': 'v1.99.0' }), /descriptorModules has 1.99/],
    ['a runtime API that is not the newest', (d) => Object.assign(d, { runtimeMinor: '1.39' }), /runtimeMinor 1.39 is not the newest/],
    ['supported minors out of order', (d) => d.supportedMinors.reverse(), /oldest first/],
    ['two patches of one minor', (d) => d.releases.push(d.releases.at(-1)?.replace(/\d+$/, '9') as string), /one patch per minor/],
  ])('rejects %s', (_what, spoil, expected) => {
    const copy = structuredClone(data);
    spoil(copy);
    expect(envoyVersionProblems(copy).join('\n')).toMatch(expected);
  });
});

describe('everything else derives from envoy-api.json', () => {
  it('has goldens for exactly the supported minors', () => {
    const goldenMinors = readdirSync(join(repo, 'translators', 'testdata', 'out')).filter((name) => /^\d+\.\d+$/.test(name));
    expect(goldenMinors.sort()).toEqual([...SUPPORTED_ENVOY_MINORS].sort());
  });

  it('no other file lists Envoy versions or hard-codes a default release', () => {
    const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: repo, encoding: 'utf8' })
      .split('\n')
      .filter((f) => /\.(ts|mjs|js|sh|json|ya?ml)$|(^|\/)(Containerfile|run)$/.test(f))
      .filter((f) => f !== 'xds-protos/envoy-api.json' && !/(^|\/)(test|testdata)\//.test(f) && !f.endsWith('package-lock.json'));
    // A quoted list of two or more Envoy minors/releases, or a default (`??`, `||`, `:-`) that is a release.
    const list = /['"`]1\.\d{2}(\.\d+)?['"`]\s*,\s*['"`]1\.\d{2}(\.\d+)?['"`]/;
    const fallback = /(\?\?|\|\||:-)\s*['"`]?1\.\d{2}\.\d+/;
    const offenders: string[] = [];
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(join(repo, file), 'utf8');
      } catch {
        continue; // deleted in the work tree
      }
      text.split('\n').forEach((line, i) => {
        if (list.test(line) || fallback.test(line)) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });

  it('docs state the supported range and the API minors as the file does', () => {
    const docs = ['README.md', 'docs/architecture.md'].map((f) => [f, readFileSync(join(repo, f), 'utf8').replace(/\s+/g, ' ')] as const);
    const statements: string[] = [];
    for (const [file, text] of docs) {
      // "Envoy 1.32 … 1.40": the supported range; "1.33, 1.35 … 1.40": the API minors, listed.
      for (const m of text.matchAll(/((?:\d\.\d{2}, )*)(\d\.\d{2}) … (\d\.\d{2})/g)) {
        statements.push(`${file}: ${m[0]}`);
        const listed = [...(m[1] ?? '').split(', ').filter(Boolean), m[2]];
        if (listed.length > 1) expect(listed, `${file}: ${m[0]}`).toEqual(API_MINORS.slice(0, listed.length));
        else expect([SUPPORTED_ENVOY_MINORS[0], API_MINORS[0]], `${file}: ${m[0]}`).toContain(m[2]);
        expect(m[3], `${file}: ${m[0]}`).toBe(SUPPORTED_ENVOY_MINORS.at(-1));
      }
      // "falls back to 1.32's API" / "against 1.33's API": only minors that have descriptors.
      for (const m of text.matchAll(/(?:back to|against(?: the oldest)?(?: \()?) (\d\.\d{2})'s(?: API)?/g)) {
        statements.push(`${file}: ${m[0]}`);
        expect(API_MINORS, `${file}: ${m[0]}`).toContain(m[1]);
      }
      // "no module tag carries 1.32's or 1.34's API": exactly the supported minors without descriptors.
      for (const m of text.matchAll(/no (?:module )?tag carries (?:the )?(\d\.\d{2})(?:'s)? (?:or|and) (?:the )?(\d\.\d{2})(?:'s)? API/g)) {
        statements.push(`${file}: ${m[0]}`);
        expect([m[1], m[2]]).toEqual(SUPPORTED_ENVOY_MINORS.filter((minor) => !API_MINORS.includes(minor)));
      }
    }
    // The checks above must have found the statements they check.
    expect(statements.length, statements.join('\n')).toBeGreaterThanOrEqual(3);
  });
});
