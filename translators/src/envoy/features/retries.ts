import type { RetryPolicy } from '@meshcp/xds-protos';
import type { RouteRule } from '../../model/types.js';
import { durationText } from '../cluster.js';
import type { EnvoyFeature } from '../feature.js';

export function retryPolicy(rule: RouteRule): RetryPolicy | undefined {
  if (!rule.retry && rule.perTryTimeoutMs === undefined) return undefined;
  const policy: RetryPolicy = {};
  if (rule.retry) {
    policy.retry_on = ['connect-failure', 'reset', ...(rule.retry.codes.length > 0 ? ['retriable-status-codes'] : [])].join(',');
    policy.num_retries = rule.retry.attempts;
    if (rule.retry.codes.length > 0) policy.retriable_status_codes = rule.retry.codes;
    if (rule.retry.backoffMs !== undefined) policy.retry_back_off = { base_interval: durationText(rule.retry.backoffMs) };
  } else {
    // A per-try timeout alone bounds the one attempt without adding retries.
    policy.num_retries = 0;
  }
  if (rule.perTryTimeoutMs !== undefined) policy.per_try_timeout = durationText(rule.perTryTimeoutMs);
  return policy;
}

/** Retries on connection failures, resets and the listed status codes, with backoff and per-try timeout. */
export const retries: EnvoyFeature = {
  name: 'retries',
  route(_route, action, rule) {
    const policy = action ? retryPolicy(rule) : undefined;
    if (action && policy) action.retry_policy = policy;
  },
};
