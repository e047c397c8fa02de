import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real processes and namespaces: each test file in its own process, so a
    // crash or a leaked child is attributed to one file.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The CLI tests start bin/tsbox, which runs the compiled dist/.
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
