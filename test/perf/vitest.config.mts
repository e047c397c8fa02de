import { defineConfig } from 'vitest/config';

// The benchmark's measurements that need the test helpers (scripts/bench.js
// runs them in its full pass): not tests, never part of `npm test`.
export default defineConfig({
  test: {
    include: ['test/perf/*.perf.ts'],
    pool: 'forks',
    testTimeout: 600_000,
    hookTimeout: 120_000,
  },
});
