/** A real grpc-js ADS client for churn tests: subscribes to one cluster's endpoints and ACKs every response. */
import { ENDPOINT } from '@meshcp/xds-protos';
import { ENVOY_NODE } from './fixtures.js';
import { XdsTestClient } from './xds-client.js';

/** An EDS client that ACKs every response and remembers the last endpoint port and how many it got. */
export class AckingClient {
  readonly client: XdsTestClient;
  lastPort?: number;
  lastAt = 0;
  responses = 0;
  private closed = false;

  constructor(
    port: number,
    readonly id: string,
    private readonly clusterName: string,
  ) {
    this.client = new XdsTestClient(port, 'sotw', undefined, { ownConnection: true });
    this.client.send({ node: { ...ENVOY_NODE, id }, type_url: ENDPOINT, resource_names: [clusterName] });
    void this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      const response = await this.client.next(60_000).catch(() => undefined);
      if (!response) return;
      this.responses++;
      this.lastAt = performance.now();
      const match = /"port_value":(\d+)/.exec(JSON.stringify(response.resources ?? []));
      this.lastPort = match ? Number(match[1]) : undefined;
      this.client.send({ type_url: ENDPOINT, resource_names: [this.clusterName], version_info: response.version_info, response_nonce: response.nonce });
    }
  }

  close(): void {
    this.closed = true;
    this.client.close();
  }
}
