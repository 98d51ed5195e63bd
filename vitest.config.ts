import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['*/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Two cores: real Envoys and control planes in parallel files would starve each other.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
