/**
 * The client axis of the matrix: which proxyless gRPC implementation at which
 * version, from grpc-clients.json (the one list the nightly run uses) or
 * `--client IMPL@X.Y.Z,…`.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GrpcImplementation } from '@meshcp/translators';

export type ClientImplementation = 'grpc-go' | 'grpc-java' | 'grpcio' | 'grpc-js-xds';

/** What each matrix client is: its registry package, and the gRPC implementation (capability table) it exercises. */
export const IMPLEMENTATIONS: Record<
  ClientImplementation,
  { title: string; registry: string; implementation: GrpcImplementation; clientKind: string; language: string }
> = {
  'grpc-go': { title: 'grpc-go', registry: 'Go module google.golang.org/grpc', implementation: 'grpc-go', clientKind: 'grpc-go', language: 'Go' },
  'grpc-java': { title: 'grpc-java', registry: 'Maven io.grpc:grpc-xds', implementation: 'grpc-java', clientKind: 'grpc-java', language: 'Java' },
  grpcio: { title: 'grpcio (C-core)', registry: 'PyPI grpcio', implementation: 'grpc-core', clientKind: 'grpc-python', language: 'Python' },
  'grpc-js-xds': { title: '@grpc/grpc-js-xds', registry: 'npm @grpc/grpc-js-xds', implementation: 'grpc-node', clientKind: 'grpc-node', language: 'Node.js' },
};

export interface ClientTarget {
  /** `grpc-go@1.85.0` */
  label: string;
  implementation: ClientImplementation;
  version: string;
}

const DATA = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'grpc-clients.json');

export function clientTarget(label: string): ClientTarget {
  const match = /^([a-z-]+)@v?(\d+\.\d+\.\d+)$/.exec(label.trim());
  if (!match || !((match[1] as string) in IMPLEMENTATIONS))
    throw new Error(`--client takes IMPL@X.Y.Z with IMPL one of ${Object.keys(IMPLEMENTATIONS).join(', ')}; got ${JSON.stringify(label)}`);
  return { label: `${match[1]}@${match[2]}`, implementation: match[1] as ClientImplementation, version: match[2] as string };
}

export function defaultClients(): ClientTarget[] {
  const data = JSON.parse(readFileSync(DATA, 'utf8')) as { clients: Record<string, string[]> };
  return Object.entries(data.clients).flatMap(([impl, versions]) => versions.map((v) => clientTarget(`${impl}@${v}`)));
}
