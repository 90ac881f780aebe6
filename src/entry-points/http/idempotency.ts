// Idempotency-Key on the API's writes. A caller's key is theirs alone. The first call with a key
// claims it and keeps its answer; the same call again gets that answer (and publishes nothing);
// another call with the key gets 422, and a call while the first is still running 409, to retry.
// What a call publishes or creates takes its id from the key, so even a call that runs twice (its
// worker crashed before it kept the answer) gives the same decision or delegation once.
import { createHash, randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import stringify from 'safe-stable-stringify';
import { z } from 'zod';
import type { Claim, IdempotencyKeys } from '../../data-access/idempotency-keys';
import { HttpError } from './http-errors';
import { callerOf } from './routes';

declare module 'fastify' {
  interface FastifyRequest {
    /** The key this call holds, once claimed. */
    idempotency?: { callerId: string; key: string; claimId: string };
  }
}

/** What an Idempotency-Key may be: it travels in a header. */
export const IdempotencyKey = z.string().regex(/^[\x21-\x7e]{1,255}$/, { error: 'the Idempotency-Key is 1 to 255 visible ASCII characters' });

/** The header a write may carry; declared on each route that takes it. */
export const IdempotencyHeaders = z.looseObject({
  'idempotency-key': IdempotencyKey.optional()
    .meta({
      description:
        'Makes the call safe to retry: the same key with the same call gives the first answer again (header Idempotent-Replayed: true) and does nothing more; with another call 422 IDEMPOTENCY_KEY_REUSED; while the first is still running 409 IDEMPOTENCY_IN_PROGRESS (try again after Retry-After). Scoped to the caller, kept for IDEMPOTENCY_KEY_TTL.',
    }),
});

/** A UUID (RFC 9562 version 8) made from `parts`: the same parts, the same id. */
export function uuidFrom(...parts: string[]): string {
  const hash = createHash('sha256').update(JSON.stringify(parts)).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x80;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The id of what this call publishes or creates for `parts` (a request, say): from its key when it has one, new otherwise. */
export const effectId = (request: FastifyRequest, ...parts: string[]): string => {
  const held = request.idempotency;
  return held ? uuidFrom(held.callerId, held.key, request.routeOptions.url ?? '', ...parts) : randomUUID();
};

type Keys = Pick<IdempotencyKeys, 'claim' | 'answer' | 'release'>;

/**
 * The hooks of a write that takes a key: `signedIn` names the caller before the call is validated,
 * the key is claimed once it is, and settled as the answer leaves.
 */
export function keyedWrite(keys: () => Keys, signedIn: (request: FastifyRequest) => Promise<void>) {
  const claim = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const key = request.headers['idempotency-key'];
    if (typeof key !== 'string') return undefined;
    const callerId = callerOf(request).id.toLowerCase();
    const fingerprint = createHash('sha256')
      .update(stringify({ method: request.method, route: request.routeOptions.url, params: request.params, query: request.query, body: request.body }) ?? '')
      .digest('base64url');
    const found: Claim = await keys().claim(callerId, key, fingerprint);
    if (found.kind === 'claimed') {
      request.idempotency = { callerId, key, claimId: found.claimId };
      return undefined;
    }
    if (found.kind === 'answered') {
      const { status, type, body } = found.answer;
      if (type) reply.header('content-type', type);
      return reply.code(status).header('idempotent-replayed', 'true').send(body);
    }
    if (found.kind === 'in-flight') {
      reply.header('retry-after', '1');
      throw new HttpError(409, 'IDEMPOTENCY_IN_PROGRESS', 'a call with this Idempotency-Key is still running; try again for its answer');
    }
    throw new HttpError(422, 'IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used for another call; use a new key for a new call');
  };

  /** Keeps the answer for the key, or gives the key back when the call could not be served (5xx: a retry runs it again). */
  const settle = async (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> => {
    const held = request.idempotency;
    if (!held) return payload;
    request.idempotency = undefined;
    if (reply.statusCode >= 500) await keys().release(held.callerId, held.key, held.claimId);
    else await keys().answer(held.callerId, held.key, held.claimId, { status: reply.statusCode, type: String(reply.getHeader('content-type') ?? '') || null, body: String(payload) });
    return payload;
  };

  return { preValidation: signedIn, preHandler: claim, onSend: settle };
}
