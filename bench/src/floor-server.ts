/**
 * The physical floor of the benchmark: a bare grpc-js server with no xDS protocol
 * logic. It holds, per zone and type, the very response bytes meshcp serves for the
 * workload (encoded once at start through meshcp's own SnapshotCache), and answers
 * every request that carries no response nonce (a first subscription) with them;
 * ACKs are read and dropped — no versions, no held sets, no flow control. A change
 * (`POST /change`, as for the other servers) is encoded once per zone (the one
 * ClusterLoadAssignment, as a partial SotW EDS response or a one-resource Delta
 * response) and written to every open stream of that zone. Each response is one
 * pre-framed Buffer shared by every stream it is written to (grpc-js does not copy it,
 * as in meshcp's servers). What remains is the cost of HTTP/2 framing and socket writes
 * of the same bytes: every other server's figure reads against it.
 *
 *   node bench/dist/floor-server.js --file mesh.yaml [--xds-address 127.0.0.1:0] [--control-address 127.0.0.1:0]
 * prints `READY xds=PORT control=PORT pid=PID` on stdout once serving.
 */
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { type MeshModel, proxyFromNode } from '@meshcp/translators';
import { CLUSTER, ENDPOINT, type EncodedResource, LISTENER, ROUTE, type TypeUrl } from '@meshcp/xds-protos';
import {
  deltaResponseBytes,
  Metrics,
  type ProxyView,
  reexecWithMmapThreshold,
  releaseGrpcReadBuffers,
  SnapshotCache,
  sendPreFramedResponses,
  setLogLevel,
  sotwResponseBytes,
} from 'meshcp';
import { type ChangeRequest, loadModel, startControlServer, withEndpointPort } from './model.js';

type Mode = 'sotw' | 'delta';
const TYPES: readonly TypeUrl[] = [CLUSTER, ENDPOINT, LISTENER, ROUTE];

// ------------------------------------------------------------- minimal wire reading

/** Reads a varint at `at`; returns [value, next offset]. Values here are small (tags, lengths). */
function varint(b: Uint8Array, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = b[at++] ?? 0;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80 || at >= b.length) return [value, at];
    shift += 7;
  }
}

/** The length-delimited fields of one message level: field number → last value (bytes). */
function fields(b: Uint8Array): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  let at = 0;
  while (at < b.length) {
    const [tag, next] = varint(b, at);
    at = next;
    const wire = tag & 7;
    if (wire === 2) {
      const [len, start] = varint(b, at);
      out.set(Math.floor(tag / 8), b.subarray(start, start + len));
      at = start + len;
    } else if (wire === 0) at = varint(b, at)[1];
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else break;
  }
  return out;
}

const text = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('utf8') : '');
// DiscoveryRequest: node 2, type_url 4, response_nonce 5. DeltaDiscoveryRequest: node 1, type_url 2, response_nonce 6.
const REQUEST_FIELDS: Record<Mode, { node: number; typeUrl: number; nonce: number }> = {
  sotw: { node: 2, typeUrl: 4, nonce: 5 },
  delta: { node: 1, typeUrl: 2, nonce: 6 },
};
/** Node.locality (4) → Locality.zone (2). */
const zoneOf = (node: Uint8Array) => text(fields(fields(node).get(4) ?? new Uint8Array()).get(2));

// ------------------------------------------------------------- pre-encoded responses

interface Open {
  mode: Mode;
  zone: string;
  call: grpc.ServerDuplexStream<Buffer, Buffer>;
}

class Floor {
  private readonly cache = new SnapshotCache(new Metrics());
  private readonly views = new Map<string, ProxyView>();
  /** `${mode}|${zone}|${typeUrl}` → the full response. */
  private readonly responses = new Map<string, Buffer>();
  private readonly open = new Set<Open>();
  private generation = 1;

  constructor(
    private model: MeshModel,
    zones: readonly string[],
  ) {
    this.cache.setModel(model);
    for (const zone of zones) {
      // The load generator's node, so the bytes are the ones meshcp serves it.
      const view = this.cache.viewFor(
        proxyFromNode({
          id: `floor-${zone}`,
          user_agent_name: 'envoy',
          user_agent_build_version: { version: { major_number: 1, minor_number: 40, patch: 0 } },
          locality: { region: 'eu', zone },
          metadata: { 'meshcp.namespace': 'shop' },
        }),
      );
      this.views.set(zone, view);
      for (const typeUrl of TYPES) {
        const resources = [...this.cache.resources(view, typeUrl, 'all').values()];
        this.store(zone, typeUrl, resources);
      }
    }
  }

  private store(zone: string, typeUrl: TypeUrl, resources: EncodedResource[]): void {
    const version = `floor-${this.generation}`;
    const nonce = String(this.generation);
    this.responses.set(`sotw|${zone}|${typeUrl}`, sotwResponseBytes({ versionInfo: version, typeUrl, nonce, resources }));
    this.responses.set(`delta|${zone}|${typeUrl}`, deltaResponseBytes({ systemVersionInfo: version, typeUrl, nonce, resources, removed: [] }));
  }

  handler(mode: Mode) {
    const f = REQUEST_FIELDS[mode];
    return (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      const entry: Open = { mode, zone: '', call };
      this.open.add(entry);
      const done = () => this.open.delete(entry);
      call.on('error', done);
      call.on('close', done);
      call.on('end', () => {
        done();
        call.end();
      });
      call.on('data', (request: Buffer) => {
        const parsed = fields(request);
        const node = parsed.get(f.node);
        if (node && !entry.zone) entry.zone = zoneOf(node);
        if ((parsed.get(f.nonce)?.length ?? 0) > 0) return; // an ACK
        const response = this.responses.get(`${mode}|${entry.zone}|${text(parsed.get(f.typeUrl))}`);
        if (response) call.write(response);
      });
    };
  }

  /** Applies a change once, then writes the one changed ClusterLoadAssignment to every open stream of each zone. */
  change(request: ChangeRequest): string {
    const next = withEndpointPort(this.model, request);
    this.model = next.model;
    this.cache.setModel(this.model);
    this.generation++;
    const version = `floor-${this.generation}`;
    const nonce = String(this.generation);
    const pushes = new Map<string, Buffer>();
    for (const [zone, view] of this.views) {
      const resources = [...this.cache.resources(view, ENDPOINT, new Set([next.cluster])).values()];
      pushes.set(`sotw|${zone}`, sotwResponseBytes({ versionInfo: version, typeUrl: ENDPOINT, nonce, resources }));
      pushes.set(`delta|${zone}`, deltaResponseBytes({ systemVersionInfo: version, typeUrl: ENDPOINT, nonce, resources, removed: [] }));
      // A stream that subscribes later gets the current full set.
      this.store(zone, ENDPOINT, [...this.cache.resources(view, ENDPOINT, 'all').values()]);
    }
    for (const o of this.open) {
      const push = pushes.get(`${o.mode}|${o.zone}`);
      if (push) o.call.write(push);
    }
    return next.cluster;
  }
}

// ------------------------------------------------------------- process

const raw = {
  path: '',
  requestStream: true,
  responseStream: true,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};
const ADS: grpc.ServiceDefinition = {
  StreamAggregatedResources: { ...raw, path: '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources' },
  DeltaAggregatedResources: { ...raw, path: '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources' },
};

async function main(): Promise<void> {
  // The same runtime settings as meshcp's server (the glibc mmap threshold; grpc-js sends pre-framed responses
  // without copying them and lets go of read buffers), so the floor stays like for like: the same bytes, shared.
  reexecWithMmapThreshold();
  releaseGrpcReadBuffers();
  sendPreFramedResponses();
  const { values } = parseArgs({
    options: {
      file: { type: 'string' },
      zones: { type: 'string', default: 'eu-1a,eu-1b,eu-1c' },
      'xds-address': { type: 'string', default: '127.0.0.1:0' },
      'control-address': { type: 'string', default: '127.0.0.1:0' },
      'max-duration-s': { type: 'string', default: '1800' },
    },
  });
  if (!values.file) throw new Error('--file is required');
  for (const a of [values['xds-address'], values['control-address']]) {
    if (!a.startsWith('127.') && !a.startsWith('localhost:')) throw new Error('listen addresses must be on loopback');
  }
  setLogLevel('error');
  const floor = new Floor(loadModel(values.file), values.zones.split(','));
  const server = new grpc.Server({ 'grpc.max_concurrent_streams': 1 << 20, 'grpc.max_receive_message_length': 64 << 20 });
  server.addService(ADS, { StreamAggregatedResources: floor.handler('sotw'), DeltaAggregatedResources: floor.handler('delta') });
  const xdsPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(values['xds-address'], grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))),
  );
  const control = await startControlServer(values['control-address'], (change) => floor.change(change));
  const controlPort = control.port;
  process.stdout.write(`READY xds=${xdsPort} control=${controlPort} pid=${process.pid}\n`);
  const shutdown = () => {
    control.close();
    server.forceShutdown();
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  setTimeout(shutdown, Number(values['max-duration-s']) * 1000).unref();
}

main().catch((error) => {
  process.stderr.write(`floor-server: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
