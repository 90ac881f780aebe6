// Configuration is validated once, at start-up: a bad combination stops the worker with one line.
import { ConfigError, loadConfig } from '../../src/libraries/config';

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
};

const localSignIn = { AUTH_LOCAL_SIGNIN: 'true', AUTH_SECRET: 'a-secret-that-is-long-enough-0123456789' };

test('local sign-in starts on a loopback host', () => {
  for (const host of ['127.0.0.1', '::1', 'localhost']) expect(problemsOf({ ...localSignIn, HTTP_HOST: host })).toEqual([]);
});

test('local sign-in refuses to start on a host reachable from elsewhere, or beside a JWKS URL', () => {
  expect(problemsOf({ ...localSignIn, HTTP_HOST: '0.0.0.0' })).toEqual([expect.stringContaining('AUTH_LOCAL_SIGNIN=true needs HTTP_HOST on loopback')]);
  expect(problemsOf({ ...localSignIn, AUTH_JWKS_URL: 'https://idp.example.com/jwks' })).toEqual([expect.stringContaining('cannot be used with AUTH_JWKS_URL')]);
});
