import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync } from 'node:zlib';
import protobuf from 'protobufjs';
import descriptorExt from 'protobufjs/ext/descriptor/index.js';
import { API_MINORS, compareMinor, RUNTIME_MINOR } from './envoy-versions.js';

/** PGV rules of one message, as exported by go/descdump (protojson, proto field names). */
export interface MessageRules {
  fields?: Record<string, FieldRules>;
  requiredOneofs?: string[];
  disabled?: boolean;
}
// biome-ignore lint/suspicious/noExplicitAny: PGV rule JSON is open-ended
export type FieldRules = Record<string, any>;

/** The Envoy API of one minor version: its descriptors and its validation rules. */
export interface EnvoyApi {
  readonly minor: string;
  readonly root: protobuf.Root;
  readonly rules: ReadonlyMap<string, MessageRules>;
  lookupType(fullName: string): protobuf.Type;
}

const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));

/** Where one minor's `descriptors.pb` + `rules.json` are, and whether they are brotli-compressed (`.br`, as packed). */
interface DescriptorFiles {
  dir: string;
  compressed: boolean;
}

/**
 * In order: $MESHCP_DESCRIPTORS; `generated/` (links made by build-descriptors.mjs in a
 * checkout); `descriptors/` (compressed, written by `npm pack`, in an installed
 * package); the set-up cache.
 */
function descriptorFiles(minor: string): DescriptorFiles {
  const candidates: DescriptorFiles[] = [
    ...(process.env.MESHCP_DESCRIPTORS ? [{ dir: join(process.env.MESHCP_DESCRIPTORS, minor), compressed: false }] : []),
    { dir: join(packageDir, 'generated', minor), compressed: false },
    { dir: join(packageDir, 'descriptors', minor), compressed: true },
    { dir: join(process.env.MESHCP_CACHE ?? join(homedir(), '.cache', 'meshcp'), 'descriptors', minor), compressed: false },
  ];
  for (const candidate of candidates) {
    if (existsSync(join(candidate.dir, candidate.compressed ? 'descriptors.pb.br' : 'descriptors.pb'))) return candidate;
  }
  throw new Error(
    `Envoy API ${minor} descriptors not found (looked in ${candidates.map((c) => c.dir).join(', ')}); in a checkout run \`npm run build:descriptors\`, else reinstall @meshcp/xds-protos (its package carries them)`,
  );
}

function readDescriptorFile(files: DescriptorFiles, name: string): Buffer {
  return files.compressed ? brotliDecompressSync(readFileSync(join(files.dir, `${name}.br`))) : readFileSync(join(files.dir, name));
}

const loaded = new Map<string, EnvoyApi>();

/**
 * protobufjs's fromDescriptor leaves `map<K, V>` as `repeated KEntry` (how the
 * descriptor spells it). The wire format is the same, but proto3 JSON writes maps
 * as objects, so each such field is swapped for a real MapField.
 */
function restoreMapFields(namespace: protobuf.NamespaceBase): void {
  for (const nested of namespace.nestedArray) {
    if (nested instanceof protobuf.Type) {
      for (const field of [...nested.fieldsArray]) {
        const entry = field.resolvedType;
        // fromDescriptor also copies `map_entry` onto unrelated types, so check the shape too.
        if (!field.repeated || !(entry instanceof protobuf.Type) || entry.options?.map_entry !== true || !entry.name.endsWith('Entry')) continue;
        const key = entry.fields.key;
        const value = entry.fields.value;
        if (key?.id !== 1 || value?.id !== 2 || entry.fieldsArray.length !== 2) continue;
        nested.remove(field);
        const map = new protobuf.MapField(field.name, field.id, key.type, value.type);
        nested.add(map);
        map.resolve();
      }
    }
    if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) restoreMapFields(nested);
  }
}

export function loadEnvoyApi(minor: string = RUNTIME_MINOR): EnvoyApi {
  const cached = loaded.get(minor);
  if (cached) return cached;
  const files = descriptorFiles(minor);
  const set = descriptorExt.FileDescriptorSet.decode(readDescriptorFile(files, 'descriptors.pb'));
  // biome-ignore lint/suspicious/noExplicitAny: protobufjs types fromDescriptor loosely
  const root = (protobuf.Root as any).fromDescriptor(set) as protobuf.Root;
  root.resolveAll();
  restoreMapFields(root);
  root.resolveAll();
  const rulesJson: Record<string, MessageRules> = JSON.parse(readDescriptorFile(files, 'rules.json').toString('utf8'));
  const types = new Map<string, protobuf.Type>();
  const api: EnvoyApi = {
    minor,
    root,
    rules: new Map(Object.entries(rulesJson)),
    lookupType(fullName: string) {
      let type = types.get(fullName);
      if (!type) {
        type = root.lookupType(fullName.startsWith('.') ? fullName : `.${fullName}`);
        // protobufjs answers '' (an Any's "@type" of "type.googleapis.com/") with the root namespace.
        if (!(type instanceof protobuf.Type)) throw new Error(`no message type ${JSON.stringify(fullName)}`);
        types.set(fullName, type);
      }
      return type;
    },
  };
  loaded.set(minor, api);
  return api;
}

/**
 * The API to check an Envoy minor against: the newest one not newer than it (1.34
 * → 1.33), or the oldest we have for older minors (1.32 → 1.33, which is optimistic:
 * no module tag carries the 1.32 API).
 */
export function apiMinorFor(envoyMinor: string): string {
  let best = API_MINORS[0] as string;
  for (const minor of API_MINORS) if (compareMinor(minor, envoyMinor) <= 0) best = minor;
  return best;
}
