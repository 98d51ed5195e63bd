import type { EnvoyFeature } from '../feature.js';

/** Within a priority, share traffic between localities by their endpoints' total weight (EDS sets the weights). */
export const localityWeighting: EnvoyFeature = {
  name: 'locality-weighting',
  cluster(cluster, service) {
    if (service.failover.localityWeighted) cluster.common_lb_config = { locality_weighted_lb_config: {} };
  },
};
