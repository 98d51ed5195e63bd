import { durationText } from '../cluster.js';
import type { EnvoyFeature } from '../feature.js';

/** Passive health: eject hosts that keep failing. */
export const outlierDetection: EnvoyFeature = {
  name: 'outlier-detection',
  cluster(cluster, service) {
    const od = service.outlierDetection;
    if (!od) return;
    cluster.outlier_detection = {
      consecutive_5xx: od.consecutive5xx,
      interval: durationText(od.intervalMs),
      base_ejection_time: durationText(od.baseEjectionTimeMs),
      max_ejection_percent: od.maxEjectionPercent,
    };
  },
};
