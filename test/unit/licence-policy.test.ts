// The licence check (`npm run licences`) judges SPDX expressions as SPDX means them: a choice is
// allowed when one side is, both when both are, and nothing unreadable or undeclared gets through.
import { ALLOWED_LICENCES, declaredLicence, judgeLicence, parseExpression, REVIEWED_PACKAGES } from '../ci/licence-policy';

test.each([
  'MIT',
  'Apache-2.0',
  'mit',
  '(MIT OR Apache-2.0)',
  '(MIT OR GPL-3.0-only)',
  'GPL-2.0-only OR BSD-3-Clause',
  '(MIT AND BSD-3-Clause)',
  'MIT AND (CC0-1.0 OR GPL-3.0-or-later)',
  'GPL-2.0-only OR MIT AND ISC',
  'Apache-2.0 WITH LLVM-exception',
  'BSD-2-Clause+',
  '((ISC))',
  '(MIT or Apache-2.0)',
])('when a package declares %s, then it is allowed', (expression) => {
  expect(judgeLicence(expression)).toEqual({ allowed: true });
});

test.each([
  ['GPL-3.0-only', /GPL-3\.0-only is not on the allowlist/],
  ['(MIT AND GPL-3.0-only)', /^GPL-3\.0-only is not/],
  ['MIT AND LGPL-2.1-only OR MPL-2.0', /LGPL-2\.1-only, MPL-2\.0 are not/],
  ['GPL-2.0-only WITH Classpath-exception-2.0', /GPL-2\.0-only is not/],
  ['UNLICENSED', /UNLICENSED is not/],
  ['CC-BY-4.0', /CC-BY-4\.0 is not/],
  ['LicenseRef-Proprietary', /LicenseRef-Proprietary is not/],
  ['SEE LICENSE IN LICENSE.md', /cannot read/],
  ['Apache 2.0', /cannot read/],
  ['(MIT OR Apache-2.0', /not closed/],
  ['MIT OR', /ends too early/],
  ['MIT WITH', /WITH names no exception/],
  ['', /ends too early/],
  ['MIT/X11', /not a licence identifier/],
])('when a package declares "%s", then it is refused', (expression, problem) => {
  const verdict = judgeLicence(expression);
  expect(verdict.allowed).toBe(false);
  expect(verdict.allowed ? '' : verdict.problem).toMatch(problem);
});

test('when a package declares no licence, then it is refused', () => {
  expect(judgeLicence(declaredLicence({ name: 'x', version: '1.0.0' }))).toEqual({ allowed: false, problem: 'no licence declared' });
  expect(declaredLicence({ license: '  ' })).toBeUndefined();
  expect(declaredLicence({ licenses: [{ type: 'MIT' }, { url: 'https://example.org' }] })).toBeUndefined();
});

test('when a package.json uses the deprecated forms, then they read as one expression, several licenses as a choice', () => {
  expect(declaredLicence({ license: 'ISC' })).toBe('ISC');
  expect(declaredLicence({ license: { type: 'MIT', url: 'https://example.org' } })).toBe('MIT');
  expect(declaredLicence({ licenses: [{ type: 'MIT' }] })).toBe('MIT');
  expect(declaredLicence({ licenses: [{ type: 'MIT' }, { type: 'Apache-2.0' }] })).toBe('(MIT OR Apache-2.0)');
  expect(declaredLicence({ license: 'MIT', licenses: [{ type: 'GPL-2.0-only' }] })).toBe('MIT');
});

test('when OR and AND are mixed without parentheses, then AND binds tighter', () => {
  expect(parseExpression('A OR B AND C')).toEqual({
    kind: 'or',
    left: { kind: 'licence', id: 'A', orLater: false },
    right: { kind: 'and', left: { kind: 'licence', id: 'B', orLater: false }, right: { kind: 'licence', id: 'C', orLater: false } },
  });
});

test('every licence read by hand is one the allowlist allows, for one version', () => {
  for (const reviewed of REVIEWED_PACKAGES) {
    expect(Object.keys(ALLOWED_LICENCES)).toContain(reviewed.licence);
    expect(reviewed.version).toMatch(/^\d+\.\d+\.\d+$/);
  }
});
