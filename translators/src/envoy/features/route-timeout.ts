import { durationText } from '../cluster.js';
import type { EnvoyFeature } from '../feature.js';

/** Gateway API `timeouts.request`: the whole request, retries included. */
export const routeTimeout: EnvoyFeature = {
  name: 'route-timeout',
  route(_route, action, rule) {
    if (action && rule.timeoutMs !== undefined) action.timeout = durationText(rule.timeoutMs);
  },
};
