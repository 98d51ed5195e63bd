import type { Cluster, Http2ProtocolOptions, HttpProtocolOptions, Packed } from '@meshcp/xds-protos';
import { HTTP_PROTOCOL_OPTIONS } from '../../type-urls.js';
import { isHttp2 } from '../cluster.js';
import type { EnvoyFeature } from '../feature.js';

/**
 * HTTP/2 limits pinned to the values Envoy 1.36 made default, so every version in
 * the fleet behaves alike (capability 'http2.safeDefaultsPinned': older versions
 * default to 2^31-1 streams and 256 MiB windows).
 */
export const PINNED_HTTP2: Http2ProtocolOptions = {
  max_concurrent_streams: 1024,
  initial_stream_window_size: 16 * 1024 * 1024,
  initial_connection_window_size: 24 * 1024 * 1024,
};

/** Upstream options that make a cluster speak HTTP/2 (gRPC needs it) with the pinned limits. */
export function http2UpstreamOptions(): Cluster['typed_extension_protocol_options'] {
  const options: Packed<HttpProtocolOptions> = {
    '@type': HTTP_PROTOCOL_OPTIONS,
    explicit_http_config: { http2_protocol_options: PINNED_HTTP2 },
  };
  return { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': options };
}

export const http2Options: EnvoyFeature = {
  name: 'http2-options',
  cluster(cluster, _service, port) {
    if (isHttp2(port)) cluster.typed_extension_protocol_options = http2UpstreamOptions();
  },
};
