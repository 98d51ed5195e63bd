import { supports } from '../capabilities.js';
import type { EnvoyFeature } from '../feature.js';

/** Endpoint names shown in Envoy's admin and stats (`observability_name`, Envoy 1.39+). */
export const endpointNames: EnvoyFeature = {
  name: 'endpoint-names',
  endpoint(lbEndpoint, endpoint, profile) {
    // Older Envoys drop observability_name silently; there is nothing to fall back to.
    if (endpoint.name && supports(profile, 'endpoint.observabilityName') && lbEndpoint.endpoint) lbEndpoint.endpoint.observability_name = endpoint.name;
  },
  degraded({ model, profile }) {
    if (supports(profile, 'endpoint.observabilityName')) return [];
    const named = [...model.services.keys()]
      .sort()
      .map((key) => model.services.get(key))
      .filter((s) => s?.endpoints.some((e) => e.name));
    if (named.length === 0) return [];
    return [`endpoint names (observability_name) need Envoy 1.39+: not shown for ${named.length} service(s), e.g. ${named[0]?.namespace}/${named[0]?.name}`];
  },
};
