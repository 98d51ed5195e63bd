/** A gRPC backend for the compat-matrix client programs, counting the calls it answers. */
import * as grpc from '@grpc/grpc-js';
import type { Cleanup } from '@meshcp/compat-matrix';

/** google.protobuf.StringValue, the test programs' message: field 1, a string. */
const stringValue = (text: string) => Buffer.concat([Buffer.from([0x0a, Buffer.byteLength(text)]), Buffer.from(text)]);

/** A backend answering the test programs' `/meshcp.test.Echo/Who` with its name, counting calls. */
export async function countingBackend(name: string, cleanup: Cleanup): Promise<{ port: number; calls: () => number }> {
  let calls = 0;
  const server = new grpc.Server();
  const raw = (b: Buffer) => b;
  server.addService(
    {
      Who: {
        path: '/meshcp.test.Echo/Who',
        requestStream: false,
        responseStream: false,
        requestSerialize: raw,
        requestDeserialize: raw,
        responseSerialize: raw,
        responseDeserialize: raw,
      },
    },
    {
      Who: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        calls++;
        callback(null, stringValue(name));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  cleanup.add(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
  return { port, calls: () => calls };
}
