import type { RegexMatchAndSubstitute, RouteAction } from '@meshcp/xds-protos';
import type { RouteMatch, RouteRule } from '../../model/types.js';
import { escapeRegex } from '../../rbac-principals.js';
import { type EnvoyProfile, supports } from '../capabilities.js';
import type { EnvoyFeature } from '../feature.js';

/**
 * Replaces the segments a PathPrefix match matched and keeps the rest, without
 * doubling the slash: /v2 → /api turns /v2/x into /api/x; /v2 → / turns /v2/x into /x.
 * (URLRewrite's and RequestRedirect's ReplacePrefixMatch.)
 */
export function prefixReplacement(match: RouteMatch, value: string): RegexMatchAndSubstitute {
  const prefix = escapeRegex((match.path?.type === 'PathPrefix' ? match.path.value : '/').replace(/\/+$/, ''));
  const replacement = value.replace(/\/+$/, '');
  return replacement === ''
    ? { pattern: { regex: `^${prefix}/?(.*)$` }, substitution: '/\\1' }
    : { pattern: { regex: `^${prefix}(/.*)?$` }, substitution: `${replacement}\\1` };
}

/** Gateway API URLRewrite → RouteAction rewrite fields, per what the proxy's version honours. */
function applyUrlRewrite(rule: RouteRule, match: RouteMatch, action: RouteAction, profile: EnvoyProfile): void {
  const rewrite = rule.urlRewrite;
  if (!rewrite) return;
  if (rewrite.hostname) action.host_rewrite_literal = rewrite.hostname;
  const path = rewrite.path;
  if (!path) return;
  if (path.type === 'ReplaceFullPath') {
    // path_rewrite (1.37+) takes a substitution format string, so '%' is doubled;
    // older Envoys drop it silently, so they get the equivalent whole-path regex rewrite.
    if (supports(profile, 'route.pathRewrite')) action.path_rewrite = path.value.replace(/%/g, '%%');
    else action.regex_rewrite = { pattern: { regex: '^/.*$' }, substitution: path.value.replace(/\\/g, '\\\\') };
    return;
  }
  action.regex_rewrite = prefixReplacement(match, path.value);
}

export const urlRewrite: EnvoyFeature = {
  name: 'url-rewrite',
  route(_route, action, rule, match, ctx) {
    if (action) applyUrlRewrite(rule, match, action, ctx.profile);
  },
};
