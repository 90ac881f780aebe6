// Every reading of a link that someone holding a log of URLs could try: the link URL-decoded, each
// part between separators, each part as base64url, base64 or hex text, the JSON that text may be,
// and the keys and values inside it, again on each result. For the tests that a link names nobody.
import type { Person } from '../../src/domain/card-operation';

export function readingsOf(link: string, depth = 6): string[] {
  const seen = new Set<string>();
  const visit = (text: string, left: number): void => {
    if (left < 0 || text === '' || seen.has(text) || seen.size > 50_000) return;
    seen.add(text);
    try {
      visit(decodeURIComponent(text), left - 1);
    } catch {
      // not percent-encoded text
    }
    for (const part of text.split(/[/.?&=#:;,\s]+/)) if (part !== text) visit(part, left - 1);
    if (/^[A-Za-z0-9+/_-]{2,}={0,2}$/.test(text)) {
      const bytes = Buffer.from(text, 'base64url');
      visit(bytes.toString('utf8'), left - 1);
      visit(bytes.toString('latin1'), left - 1);
    }
    if (/^([0-9a-f]{2})+$/i.test(text)) visit(Buffer.from(text, 'hex').toString('utf8'), left - 1);
    try {
      for (const s of stringsIn(JSON.parse(text))) visit(s, left - 1);
    } catch {
      // not JSON
    }
  };
  visit(link, depth);
  return [...seen];
}

function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value === 'number' || typeof value === 'boolean') return [String(value)];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => [k, ...stringsIn(v)]);
  return [];
}

/** What of these people's ids, names and addresses (an address's local part too) some reading of `link` shows, case aside. */
export function peopleNamedIn(link: string, people: Array<Pick<Person, 'id' | 'name' | 'email'>>): string[] {
  const readings = readingsOf(link).map((r) => r.toLowerCase());
  const personal = [...new Set(people.flatMap((p) => [p.id, p.name, p.email, p.email.split('@')[0]!]).map((s) => s.toLowerCase()))];
  return personal.filter((value) => readings.some((r) => r.includes(value)));
}
