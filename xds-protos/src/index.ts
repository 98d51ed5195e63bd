export * from './descriptors.js';
export * from './discovery.js';
export type * from './envoy-types.js';
export * from './envoy-versions.js';
export * from './json-codec.js';
export * from './pgv.js';
export * from './type-urls.js';
