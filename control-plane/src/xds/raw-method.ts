/**
 * A gRPC method whose messages cross grpc-js as raw bytes: meshcp decodes them itself
 * (session.ts, csds.ts), so a message that does not decode is its own error to report
 * on the one stream it came on, not a grpc-js deserialisation failure.
 */
import type * as grpc from '@grpc/grpc-js';

const asIs = (bytes: Buffer) => bytes;

/** `path` is `/package.Service/Method`; `streaming` makes both directions streams (false: unary). */
export function rawMethod(path: string, streaming = true): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: streaming,
    responseStream: streaming,
    requestSerialize: asIs,
    requestDeserialize: asIs,
    responseSerialize: asIs,
    responseDeserialize: asIs,
  };
}
