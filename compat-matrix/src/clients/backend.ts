/**
 * In-process gRPC backends for client cells (@grpc/grpc-js, no xDS): each answers
 * `/meshcp.test.Echo/Who` with its name as a google.protobuf.StringValue, can be
 * told to fail every RPC with UNAVAILABLE, honours `sleep=MS`, and can be stopped and
 * restarted on the same port (for failover and failback).
 */
import * as grpc from '@grpc/grpc-js';
import type { Cleanup } from '../support/cleanup.js';

export const ECHO_METHOD = '/meshcp.test.Echo/Who';

export function encodeStringValue(text: string): Buffer {
  const data = Buffer.from(text, 'utf8');
  if (data.length === 0) return Buffer.alloc(0);
  const head: number[] = [0x0a];
  let length = data.length;
  while (length >= 0x80) {
    head.push((length & 0x7f) | 0x80);
    length >>>= 7;
  }
  head.push(length);
  return Buffer.concat([Buffer.from(head), data]);
}

export function decodeStringValue(raw: Buffer): string {
  let i = 0;
  while (i < raw.length) {
    const tag = raw[i++] as number;
    let length = 0;
    let shift = 0;
    for (;;) {
      const b = raw[i++] as number;
      length |= (b & 0x7f) << shift;
      shift += 7;
      if (b < 0x80) break;
    }
    if (tag === 0x0a) return raw.subarray(i, i + length).toString('utf8');
    i += length;
  }
  return '';
}

export class Backend {
  port = 0;
  calls = 0;
  fail = false;
  private server?: grpc.Server;

  constructor(readonly name: string) {}

  async start(port = this.port): Promise<this> {
    const server = new grpc.Server();
    const identity = (b: Buffer) => b;
    server.register(
      ECHO_METHOD,
      (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        this.calls++;
        if (this.fail) {
          callback({ code: grpc.status.UNAVAILABLE, details: `meshcp-test: ${this.name} fails on purpose` });
          return;
        }
        const payload = decodeStringValue(call.request);
        const delay = payload.startsWith('sleep=') ? Number(payload.slice(6)) : 0;
        setTimeout(() => callback(null, encodeStringValue(this.name)), delay);
      },
      identity,
      identity,
      'unary',
    );
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    this.server = server;
    return this;
  }

  /** Stops at once (open connections are closed, as when a pod dies). */
  stop(): void {
    this.server?.forceShutdown();
    this.server = undefined;
  }
}

export async function startBackend(name: string, cleanup: Cleanup, options: { fail?: boolean } = {}): Promise<Backend> {
  const backend = new Backend(name);
  backend.fail = options.fail ?? false;
  await backend.start();
  cleanup.add(() => backend.stop());
  return backend;
}
