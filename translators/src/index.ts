export * from './envoy/capabilities.js';
export { failoverTier, loadAssignment } from './envoy/features/endpoints.js';
export * from './envoy/names.js';
export * from './envoy/translate.js';
export * from './model/manifests.js';
export * from './model/source.js';
export * from './model/types.js';
export * from './proxy.js';
