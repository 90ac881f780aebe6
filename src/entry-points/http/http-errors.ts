// The HTTP answers that are refusals: one error class (an AppError with the API's code and a
// status), and one table from the domain's refusal codes to statuses.
import type { RefusalCode } from '../../domain/approval';
import type { CallerRefusal } from '../../domain/callers';
import { AppError } from '../../libraries/errors';

/** The API's own codes; a refusal code of the domain's is answered as it is. */
export const API_ERROR_CODES = [
  'TOKEN_MISSING',
  'TOKEN_INVALID',
  'AUTH_NOT_CONFIGURED',
  'FORBIDDEN',
  'NOT_FOUND',
  'INVALID_BODY',
  'INVALID_JSON',
  'INVALID_QUERY',
  'INVALID_CURSOR',
  'INVALID_PATH',
  'INVALID_HEADER',
  'INVALID_CONTENT',
  'BODY_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'UNAVAILABLE',
  'STARTING',
  'LOCAL_SIGNIN_DISABLED',
  'IDEMPOTENCY_IN_PROGRESS',
  'IDEMPOTENCY_KEY_REUSED',
  // The page's sign-in through an identity provider.
  'NO_SIGN_IN_PENDING',
  'STATE_MISMATCH',
  'ISSUER_MISMATCH',
  'PROVIDER_REFUSED',
  'CODE_MISSING',
  'TOKEN_NOT_ACCEPTED',
  'PROVIDER_UNAVAILABLE',
  'PROVIDER_MISCONFIGURED',
  'CODE_NOT_REDEEMED',
  'INTERNAL',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number] | RefusalCode;

/** An answer of the API that refuses the call: its status, and a code the caller can act on. */
export class HttpError extends AppError<ApiErrorCode> {
  constructor(
    readonly status: number,
    code: ApiErrorCode,
    message: string,
  ) {
    super(code, message, status === 503);
    this.name = 'HttpError';
  }
}

/** The status each refusal is answered with: 403 who may not, 409 what the request no longer takes, 400 what the call got wrong. */
export const REFUSAL_STATUS: Record<CallerRefusal['code'], number> = {
  NOT_AN_APPROVER: 403,
  SELF_APPROVAL: 403,
  HOLDER_APPROVAL: 403,
  WITHDRAWAL_NOT_ALLOWED: 403,
  REASSIGNMENT_NOT_ALLOWED: 403,
  REQUEST_CLOSED: 409,
  ALREADY_VOTED: 409,
  CARD_OUTCOMES_NOT_ALLOWED: 409,
  REASON_REQUIRED: 400,
  CARD_OUTCOMES_INVALID: 400,
  INVALID_CONTENT: 400,
  UNKNOWN_REQUEST: 404,
};

export const refused = (refusal: CallerRefusal): HttpError => new HttpError(REFUSAL_STATUS[refusal.code], refusal.code, refusal.message);

/** A domain answer's decision, or its refusal thrown as the HTTP answer. */
export function orRefuse<T>(answer: { decision: T } | { refusal: CallerRefusal }): T {
  if ('refusal' in answer) throw refused(answer.refusal);
  return answer.decision;
}
