import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          exclude: ['tests/unit/deploy/**'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'deploy',
          include: ['tests/unit/deploy/**/*.test.ts'],
          environment: 'node',
          // Packages the stack once (`npm run package`, offline), for every file to read.
          globalSetup: ['tests/unit/deploy/globalSetup.ts'],
          testTimeout: 30_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/helpers/globalSetup.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/e2e/globalSetup.ts'],
          testTimeout: 90_000,
          hookTimeout: 180_000,
          // One stack serves the suite; files take turns so their database assertions hold.
          fileParallelism: false,
        },
      },
    ],
  },
});
