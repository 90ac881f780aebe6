// The CLI's one way to the worker's API: every command that reads or changes records calls it as
// the person the operator's token names, so the API's rules (who may see and do what) hold for the
// CLI as they do for the page. A write carries an Idempotency-Key, so a command run again with the
// same key (after a timeout, say) is done once.
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { shownValue } from '../../libraries/config';
import { errorMessage } from '../../libraries/errors';
import { IdempotencyKey } from '../http/idempotency';
import { UsageError } from './command-line';

export interface ApiTarget {
  /** The worker's base URL (CARD_APPROVALS_API_URL or --api). */
  url: string;
  /** The bearer token (CARD_APPROVALS_TOKEN or --token); without one the API says what is missing. */
  token: string | undefined;
  /** The Idempotency-Key of this run's writes (--idempotency-key), else a new one per run. */
  idempotencyKey: string | undefined;
}

export interface ApiCall<T> {
  method: 'GET' | 'POST';
  /** Relative to the base URL: `api/requests?status=PENDING`. */
  path: string;
  body?: unknown;
  /** The status that means it was done; any other is a refusal. */
  expected: number;
  /** What is asked, for the refusal's message: "the decision". */
  what: string;
  /** The answer's declaration (api-schemas.ts): what the API says it answers is what is read. */
  answer: z.ZodType<T>;
}

/** One key per run: every write of a run, and a rerun given the key, are the same request to the API. */
const runKey = randomUUID();

/** Calls the worker's API; returns its answer, decoded, or throws with the API's code and message. */
export async function callApi<T>(target: ApiTarget, call: ApiCall<T>): Promise<T> {
  const { url: api, token } = target;
  if (!URL.canParse(api) || !['http:', 'https:'].includes(new URL(api).protocol)) throw new UsageError(`--api "${shownValue(api)}" is not an http(s) URL`);
  if (new URL(api).username || new URL(api).password) throw new UsageError(`--api "${shownValue(api)}" must not hold a user or password: send a token`);
  const key = target.idempotencyKey ?? runKey;
  if (!IdempotencyKey.safeParse(key).success) throw new UsageError('--idempotency-key must be 1 to 255 visible ASCII characters (no spaces)');
  const url = new URL(call.path, api.endsWith('/') ? api : `${api}/`);
  const write = call.method !== 'GET';
  // Should a write's outcome be unknown (no answer, a 5xx), the same key makes a rerun safe.
  const rerun = write ? `\n  to try again without doing it twice: the same command with --idempotency-key ${key}` : '';
  // Without a token the API still gets the call: it is the one that says what is missing.
  let res: Response;
  try {
    res = await fetch(url, {
      method: call.method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(write ? { 'content-type': 'application/json', 'idempotency-key': key } : {}),
      },
      body: write ? JSON.stringify(call.body ?? {}) : undefined,
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`cannot reach the API at ${url.origin} (${cause?.code ?? cause?.message ?? errorMessage(error)}); set --api or CARD_APPROVALS_API_URL${rerun}`);
  }
  const text = await res.text();
  let answer: Record<string, unknown> = {};
  try {
    answer = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON: reported below with the status
  }
  if (res.status !== call.expected) {
    const said = typeof answer.error === 'string' ? `${answer.error}: ${String(answer.message)}` : text.slice(0, 200) || res.statusText;
    const hint = res.status === 401 ? '\n  pass a token with --token or CARD_APPROVALS_TOKEN (locally: card-approvals token --id … mints one)' : res.status >= 500 ? rerun : '';
    // The API's code and message are what the operator needs to see.
    throw new Error(`the API refused ${call.what}: ${res.status} ${said}${hint}`);
  }
  const decoded = call.answer.safeParse(answer);
  if (!decoded.success) throw new Error(`the API's answer to ${call.what} is not the one this CLI knows (${decoded.error.issues[0]?.message}); is the CLI of the worker's version?`);
  return decoded.data;
}
