/** A CSDS client on grpc-js: FetchClientStatus and StreamClientStatus with messages encoded from the Envoy descriptors. */
import * as grpc from '@grpc/grpc-js';
import { decodeToJson, encodeJson, loadEnvoyApi } from '@meshcp/xds-protos';

const SERVICE = '/envoy.service.status.v3.ClientStatusDiscoveryService';
const api = loadEnvoyApi();
const raw = (b: Buffer) => b;

export interface GenericXdsConfig {
  type_url: string;
  name?: string;
  version_info?: string;
  config_status?: string;
  client_status?: string;
  error_state?: { details?: string; version_info?: string };
}
export interface ClientStatusResponse {
  config?: { node?: { id?: string; user_agent_name?: string }; generic_xds_configs?: GenericXdsConfig[] }[];
}

export const encodeRequest = (request: object): Buffer => Buffer.from(encodeJson(api, 'envoy.service.status.v3.ClientStatusRequest', request));
export const decodeResponse = (bytes: Buffer): ClientStatusResponse =>
  decodeToJson(api, 'envoy.service.status.v3.ClientStatusResponse', bytes) as ClientStatusResponse;

export function fetchClientStatus(port: number, request: object | Buffer = {}): Promise<ClientStatusResponse> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const bytes = Buffer.isBuffer(request) ? request : encodeRequest(request);
  return new Promise<ClientStatusResponse>((resolve, reject) => {
    client.makeUnaryRequest(`${SERVICE}/FetchClientStatus`, raw, raw, bytes, (error, response) => {
      client.close();
      if (error || !response) reject(error ?? new Error('no response'));
      else resolve(decodeResponse(response));
    });
  });
}

/** Opens StreamClientStatus, sends each request in turn and collects one response per request. */
export function streamClientStatus(port: number, requests: object[]): Promise<ClientStatusResponse[]> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest(`${SERVICE}/StreamClientStatus`, raw, raw);
  const responses: ClientStatusResponse[] = [];
  return new Promise<ClientStatusResponse[]>((resolve, reject) => {
    let next = 0;
    const sendNext = () => {
      const request = requests[next++];
      if (request) call.write(encodeRequest(request));
      else call.end();
    };
    call.on('data', (bytes: Buffer) => {
      responses.push(decodeResponse(bytes));
      sendNext();
    });
    call.on('status', (status: grpc.StatusObject) => {
      client.close();
      if (status.code === grpc.status.OK) resolve(responses);
      else reject(Object.assign(new Error(status.details), { code: status.code }));
    });
    call.on('error', () => undefined);
    sendNext();
  });
}
