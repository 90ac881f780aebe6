import { ConfigError, loadConfig } from '../../src/libraries/config';

/** The problems configuration validation names for `env` (none: it loads). */
export const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
};
