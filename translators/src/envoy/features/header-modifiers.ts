import type { HeaderValueOption } from '@meshcp/xds-protos';
import type { HeaderModifier } from '../../model/types.js';
import type { EnvoyFeature } from '../feature.js';

function headerOptions(modifier: HeaderModifier | undefined): HeaderValueOption[] {
  if (!modifier) return [];
  return [
    ...(modifier.set ?? []).map((h): HeaderValueOption => ({ header: { key: h.name, value: h.value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })),
    ...(modifier.add ?? []).map((h): HeaderValueOption => ({ header: { key: h.name, value: h.value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' })),
  ];
}

/** Gateway API RequestHeaderModifier / ResponseHeaderModifier filters. */
export const headerModifiers: EnvoyFeature = {
  name: 'header-modifiers',
  route(route, _action, rule) {
    const requestAdd = headerOptions(rule.requestHeaders);
    if (requestAdd.length > 0) route.request_headers_to_add = requestAdd;
    if (rule.requestHeaders?.remove?.length) route.request_headers_to_remove = rule.requestHeaders.remove;
    const responseAdd = headerOptions(rule.responseHeaders);
    if (responseAdd.length > 0) route.response_headers_to_add = responseAdd;
    if (rule.responseHeaders?.remove?.length) route.response_headers_to_remove = rule.responseHeaders.remove;
  },
};
