/**
 * The registered Envoy features, in the order their hooks run. Order matters only
 * where two features touch one object (it fixes the field order of the output, which
 * the golden files pin). A new feature is one file in this folder plus one line here.
 */
import type { EnvoyFeature } from '../feature.js';
import { accessPolicy } from './access-policy.js';
import { circuitBreakers } from './circuit-breakers.js';
import { endpointNames } from './endpoint-names.js';
import { headerModifiers } from './header-modifiers.js';
import { healthCheck } from './health-check.js';
import { http2Options } from './http2-options.js';
import { inbound } from './inbound.js';
import { localityWeighting } from './locality-weighting.js';
import { mtls } from './mtls.js';
import { outlierDetection } from './outlier-detection.js';
import { retries } from './retries.js';
import { routeTimeout } from './route-timeout.js';
import { tcpListeners } from './tcp-listeners.js';
import { tracing } from './tracing.js';
import { transparentCapture } from './transparent-capture.js';
import { urlRewrite } from './url-rewrite.js';

export const ENVOY_FEATURES: readonly EnvoyFeature[] = [
  // clusters
  http2Options,
  healthCheck,
  outlierDetection,
  circuitBreakers,
  localityWeighting,
  // routes
  routeTimeout,
  retries,
  urlRewrite,
  headerModifiers,
  // endpoints
  endpointNames,
  // listeners of their own
  tcpListeners,
  inbound,
  transparentCapture,
  // security
  mtls,
  accessPolicy,
  // observability
  tracing,
];
