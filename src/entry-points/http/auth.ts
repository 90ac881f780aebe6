// Bearer JWTs: verified against a JWKS URL (production) or a shared secret (local use). The
// approver's identity comes from the token only, never from a request body.
import { SignJWT, createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Identity } from '../../domain/callers';
import { isRole } from '../../domain/callers';
import type { Config } from '../../libraries/config';
import { HttpError } from './http-errors';

/**
 * The algorithms a token may be signed with, as the docs name them: HS256 for local tokens (the
 * shared secret); for an identity provider's JWKS, its asymmetric keys. None other is accepted.
 */
export const TOKEN_ALGORITHMS = { secret: ['HS256'], jwks: ['RS256', 'PS256', 'ES256', 'EdDSA'] } as const;

export { ROLES, isRole, type Identity, type Role } from '../../domain/callers';

export type Authenticate = (authorization: string | undefined) => Promise<Identity>;

/** The longest a token may live, from its issue (or from now, for a token without `iat`). */
export const MAX_TOKEN_LIFETIME_S = 12 * 3600;

export function createAuthenticator(auth: Config['auth']): Authenticate {
  const key = auth.jwksUrl ? createRemoteJWKSet(new URL(auth.jwksUrl)) : auth.secret ? new TextEncoder().encode(auth.secret) : undefined;
  return async (authorization) => {
    if (!key) throw new HttpError(503, 'AUTH_NOT_CONFIGURED', 'set AUTH_JWKS_URL or AUTH_SECRET to use the API');
    const token = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) throw new HttpError(401, 'TOKEN_MISSING', 'send Authorization: Bearer <token>');
    let payload: JWTPayload;
    try {
      const algorithms = [...(auth.jwksUrl ? TOKEN_ALGORITHMS.jwks : TOKEN_ALGORITHMS.secret)];
      ({ payload } = await jwtVerify(token, key as Parameters<typeof jwtVerify>[1], { issuer: auth.issuer, audience: auth.audience, requiredClaims: ['exp'], algorithms }));
    } catch (error) {
      throw new HttpError(401, 'TOKEN_INVALID', `the token was not accepted: ${error instanceof Error ? error.message : String(error)}`);
    }
    // A token that never expires, or lives for days, is a standing credential: refused.
    const issuedAt = typeof payload.iat === 'number' ? payload.iat : Date.now() / 1000;
    if (payload.exp! - issuedAt > MAX_TOKEN_LIFETIME_S) {
      throw new HttpError(401, 'TOKEN_INVALID', `the token lives longer than ${MAX_TOKEN_LIFETIME_S / 3600} h`);
    }
    const roles = (Array.isArray(payload.roles) ? payload.roles : []).filter(isRole);
    if (typeof payload.sub !== 'string' || typeof payload.email !== 'string' || roles.length === 0) {
      throw new HttpError(401, 'TOKEN_INVALID', 'the token needs sub, email and roles');
    }
    return { id: payload.sub, name: typeof payload.name === 'string' ? payload.name : payload.sub, email: payload.email, roles };
  };
}

/** Mints a token signed with the local secret (the CLI's `token` command and tests). */
export function mintLocalToken(auth: Config['auth'], identity: Identity, ttl = '8h'): Promise<string> {
  if (!auth.secret) throw new Error('AUTH_SECRET is not set; local tokens need it');
  return new SignJWT({ name: identity.name, email: identity.email, roles: identity.roles })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(identity.id)
    .setIssuer(auth.issuer)
    .setAudience(auth.audience)
    .setIssuedAt()
    .setExpirationTime(ttl)
    .sign(new TextEncoder().encode(auth.secret));
}
