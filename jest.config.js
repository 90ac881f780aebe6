/**
 * Unit tests cover the pure domain without I/O; integration tests run against the real stack;
 * static tests check the repository's own files with the tools that read them (they may run a
 * command such as docker-compose, and need no service).
 * ts-jest only transpiles: `npm test` type-checks src/ and test/ with tsc before jest runs.
 */
const transform = { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] };

module.exports = {
  testTimeout: 60_000,
  maxWorkers: 2,
  projects: [
    {
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
      transform,
      testEnvironment: 'node',
    },
    {
      displayName: 'static',
      testMatch: ['<rootDir>/test/static/**/*.test.ts'],
      transform,
      testEnvironment: 'node',
    },
    {
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      transform,
      testEnvironment: 'node',
      globalSetup: '<rootDir>/test/global-setup.ts',
      globalTeardown: '<rootDir>/test/global-teardown.ts',
    },
  ],
};
