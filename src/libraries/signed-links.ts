// Signed, expiring tokens for links in emails: the payload travels in the link, an HMAC-SHA256
// proves the worker made it. Nothing in the payload is secret, and nothing in it should be
// personal: links end up in proxies' and link scanners' logs.
import { createHmac, timingSafeEqual } from 'node:crypto';

const b64 = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

export function signLink(payload: object, secret: string): string {
  const body = b64(JSON.stringify(payload));
  return `${body}.${b64(createHmac('sha256', secret).update(body).digest())}`;
}

/**
 * The payload of a token one of these secrets signed, and the secret that did; undefined for one
 * none did (forged, cut, altered). Every secret verifies, so a key can be rotated: the new one
 * signs, the old ones keep verifying the links they signed until those expire. The payload is
 * only parsed: its shape is the caller's to check.
 */
export function verifyLink(token: string, secrets: readonly string[]): { payload: unknown; signedWith: string } | undefined {
  const [body, mac, ...rest] = token.split('.');
  if (!body || !mac || rest.length > 0 || token.length > 4096) return undefined;
  // The signature compares as the exact text it was issued as: one token, one spelling.
  const given = Buffer.from(mac);
  const signedWith = secrets.find((secret) => {
    const expected = Buffer.from(b64(createHmac('sha256', secret).update(body).digest()));
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (signedWith === undefined) return undefined;
  try {
    return { payload: JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as unknown, signedWith };
  } catch {
    return undefined;
  }
}

/** 128 bits of HMAC-SHA256 under `secret` over `parts`: a value that stands for them, that only the key's holder can make or check. */
export function keyedDigest(secret: string, ...parts: string[]): string {
  return createHmac('sha256', secret).update(parts.join('\u0000')).digest('base64url').slice(0, 22);
}
