// Which licences the runtime dependencies may carry, for a worker released under Apache-2.0, and
// how a package's declared licence (an SPDX expression in package.json) is judged against them.
// Pure: `npm run licences` (test/ci/licences.ts) reads the packages and writes the reports.

/**
 * Licences that ask no more of the worker's users than Apache-2.0 does: keep the copyright and
 * licence notices (some not even that), no copyleft, no field-of-use limits. Each is in the
 * Apache Software Foundation's Category A ("similar in terms to the Apache License 2.0") or is
 * a public-domain dedication with a permissive fallback. A licence not listed here fails the
 * check until someone has read it: MPL-2.0 and EPL-2.0 (weak copyleft: their files stay under
 * them, with their source offered), the GPL family and AGPL (copyleft over the whole work),
 * CC-BY-* (written for content, not code), SSPL and BUSL (not open source), UNLICENSED,
 * `SEE LICENSE IN …` and LicenseRef-* (no standard text to judge).
 */
export const ALLOWED_LICENCES: Readonly<Record<string, string>> = {
  'Apache-2.0': "the project's own licence",
  MIT: 'permissive: keep the notice',
  'MIT-0': 'permissive, not even the notice',
  ISC: 'permissive: keep the notice (MIT in other words)',
  '0BSD': 'permissive, not even the notice',
  'BSD-2-Clause': 'permissive: keep the notice',
  'BSD-3-Clause': "permissive: keep the notice, do not use the authors' names to promote",
  Zlib: 'permissive: keep the notice, mark altered versions',
  'Python-2.0': 'permissive: keep the notice (ASF Category A)',
  'BlueOak-1.0.0': 'permissive with a patent licence: pass the licence on',
  'CC0-1.0': 'public-domain dedication with a permissive fallback',
  Unlicense: 'public-domain dedication with a permissive fallback',
};

/**
 * Packages whose package.json says nothing usable about their licence, read by hand. Each holds
 * for one version only, so an upgrade is read again; the check also makes sure the licence file
 * the package ships still begins as it did when it was read.
 */
export interface ReviewedPackage {
  name: string;
  version: string;
  licence: string;
  licenceFileStartsWith: string;
  why: string;
}

export const REVIEWED_PACKAGES: readonly ReviewedPackage[] = [
  {
    name: '@kafkajs/confluent-schema-registry',
    version: '3.9.0',
    licence: 'MIT',
    licenceFileStartsWith: 'MIT License',
    why: 'its package.json has no licence field; the LICENSE file it ships is the MIT licence, as is its repository',
  },
];

/**
 * The licence a package.json declares, as one SPDX expression: `license` as a string, or the
 * deprecated `{ type }` object and `licenses: [{ type }, …]` array (several mean a choice, as
 * npm reads them).
 */
export function declaredLicence(manifest: Record<string, unknown>): string | undefined {
  const typeOf = (value: unknown): string | undefined => {
    if (typeof value === 'string') return value.trim() || undefined;
    if (value && typeof value === 'object' && typeof (value as { type?: unknown }).type === 'string') return typeOf((value as { type: string }).type);
    return undefined;
  };
  const single = typeOf(manifest.license);
  if (single) return single;
  if (!Array.isArray(manifest.licenses)) return undefined;
  const each = manifest.licenses.map(typeOf);
  if (each.length === 0 || each.some((t) => t === undefined)) return undefined;
  return each.length === 1 ? each[0] : `(${each.join(' OR ')})`;
}

type Expression =
  | { kind: 'licence'; id: string; orLater: boolean; exception?: string }
  | { kind: 'and' | 'or'; left: Expression; right: Expression };

/** Parses an SPDX licence expression (AND binds tighter than OR; WITH names an exception). */
export function parseExpression(text: string): Expression {
  const tokens = text.match(/\(|\)|[^\s()]+/g) ?? [];
  let at = 0;
  const peek = () => tokens[at];
  const operator = (word: string) => peek()?.toUpperCase() === word;
  const fail = (why: string): never => {
    throw new Error(`cannot read "${text}" as an SPDX expression: ${why}`);
  };
  const atom = (): Expression => {
    const token = tokens[at++];
    if (token === undefined) return fail('it ends too early');
    if (token === '(') {
      const inner = or();
      if (tokens[at++] !== ')') fail('a parenthesis is not closed');
      return inner;
    }
    if (token === ')' || ['AND', 'OR', 'WITH'].includes(token.toUpperCase())) return fail(`"${token}" where a licence should be`);
    const match = /^((?:DocumentRef-[\w.-]+:)?LicenseRef-[\w.-]+|[A-Za-z0-9][\w.-]*?)(\+)?$/.exec(token);
    if (!match) return fail(`"${token}" is not a licence identifier`);
    const licence: Expression = { kind: 'licence', id: match[1]!, orLater: match[2] === '+' };
    if (operator('WITH')) {
      at++;
      const exception = tokens[at++];
      if (exception === undefined || !/^[A-Za-z0-9][\w.-]*$/.test(exception)) return fail('WITH names no exception');
      licence.exception = exception;
    }
    return licence;
  };
  const and = (): Expression => {
    let left = atom();
    while (operator('AND')) {
      at++;
      left = { kind: 'and', left, right: atom() };
    }
    return left;
  };
  const or = (): Expression => {
    let left = and();
    while (operator('OR')) {
      at++;
      left = { kind: 'or', left, right: and() };
    }
    return left;
  };
  const expression = or();
  if (at < tokens.length) fail(`"${tokens[at]}" is left over`);
  return expression;
}

export type Verdict = { allowed: true } | { allowed: false; problem: string };

const ALLOWED_BY_LOWER_CASE = new Map(Object.keys(ALLOWED_LICENCES).map((id) => [id.toLowerCase(), id]));

/**
 * Whether the worker may ship a package under this expression. A choice (OR) is allowed when one
 * side is; both (AND) when both are. `X+` (X or later) and `X WITH exception` are allowed when X
 * is: the worker may take X itself, and an SPDX exception only adds permissions. Identifiers
 * match without regard to case, as SPDX says.
 */
export function judgeLicence(text: string | undefined): Verdict {
  if (text === undefined) return { allowed: false, problem: 'no licence declared' };
  let expression: Expression;
  try {
    expression = parseExpression(text);
  } catch (error) {
    return { allowed: false, problem: error instanceof Error ? error.message : String(error) };
  }
  const notAllowed = (e: Expression): string[] => {
    if (e.kind === 'licence') return ALLOWED_BY_LOWER_CASE.has(e.id.toLowerCase()) ? [] : [e.id];
    const left = notAllowed(e.left);
    const right = notAllowed(e.right);
    if (e.kind === 'or') return left.length === 0 || right.length === 0 ? [] : [...left, ...right];
    return [...left, ...right];
  };
  const refused = [...new Set(notAllowed(expression))];
  return refused.length === 0 ? { allowed: true } : { allowed: false, problem: `${refused.join(', ')} ${refused.length === 1 ? 'is' : 'are'} not on the allowlist` };
}
