// Signed, expiring tokens for links in emails: the payload travels in the link, an HMAC-SHA256
// proves the worker made it. Nothing is secret in the payload; it is only unforgeable.
import { createHmac, timingSafeEqual } from 'node:crypto';

const b64 = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

export function signLink(payload: object, secret: string): string {
  const body = b64(JSON.stringify(payload));
  return `${body}.${b64(createHmac('sha256', secret).update(body).digest())}`;
}

/**
 * The payload of a token one of these secrets signed, or undefined for one none did (forged, cut,
 * altered). Every secret verifies, so a key can be rotated: the new one signs, the old ones keep
 * verifying the links they signed until those expire.
 */
export function verifyLink<T>(token: string, secrets: readonly string[]): T | undefined {
  const [body, mac, ...rest] = token.split('.');
  if (!body || !mac || rest.length > 0 || token.length > 4096) return undefined;
  // The signature compares as the exact text it was issued as: one token, one spelling.
  const given = Buffer.from(mac);
  const signedBy = secrets.filter((secret) => {
    const expected = Buffer.from(b64(createHmac('sha256', secret).update(body).digest()));
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (signedBy.length === 0) return undefined;
  try {
    return JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as T;
  } catch {
    return undefined;
  }
}
