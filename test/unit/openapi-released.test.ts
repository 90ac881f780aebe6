// The HTTP contract evolves only compatibly: the document this release makes is judged against
// every released one (docs/openapi/released/) by api-smart-diff's OpenAPI rules. Released a new
// version: copy docs/openapi/openapi.json to docs/openapi/released/v<N>.json.
import fs from 'node:fs';
import path from 'node:path';
import { apiDiff, type Diff } from 'api-smart-diff';
import { OPENAPI_FILE } from '../docs/generate';

const ROOT = path.join(__dirname, '..', '..');
const RELEASED = path.join(ROOT, 'docs', 'openapi', 'released');
const releases = fs.readdirSync(RELEASED).filter((f) => f.endsWith('.json')).sort();
const read = (file: string): Record<string, unknown> => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
const current = read(path.join(ROOT, OPENAPI_FILE));

/**
 * The changes that break a client of `before`. api-smart-diff's rules, plus one of this API's: a
 * body refuses unknown fields, so a field no longer taken breaks the client that still sends it.
 */
function breaking(before: unknown, after: unknown): string[] {
  const refusedField = (d: Diff) => d.action === 'remove' && d.path.includes('requestBody') && d.path.at(-2) === 'properties';
  return apiDiff(before, after)
    .filter((d) => d.type === 'breaking' || refusedField(d))
    .map((d) => `${d.action} ${d.path.join('/')}`);
}

test('there is a released version to keep to', () => {
  expect(releases).toContain('v1.json');
});

test.each(releases)('the current document breaks no client of released %s', (release) => {
  expect(breaking(read(path.join(RELEASED, release)), current)).toEqual([]);
});

test('a breaking change is caught: a route gone, a body field no longer taken, a status value dropped', () => {
  const after = JSON.parse(JSON.stringify(current)) as { paths: Record<string, Record<string, { requestBody?: unknown }>>; components: { schemas: Record<string, { properties: Record<string, { enum?: string[] }> }> } };
  delete after.paths['/api/me'];
  delete after.components.schemas.DecisionRequest!.properties.reason;
  after.components.schemas.DecisionRequest!.properties.decision!.enum!.pop();
  const found = breaking(current, after);
  expect(found).toEqual(expect.arrayContaining([expect.stringContaining('remove paths//api/me'), expect.stringMatching(/^remove paths\/.*decisions\/post\/requestBody\/.*properties\/reason$/), expect.stringMatching(/decisions\/post\/requestBody\/.*properties\/decision\/enum/)]));
  // Adding is not breaking: a new route, an optional field.
  const added = JSON.parse(JSON.stringify(current)) as typeof after;
  added.paths['/api/new'] = { get: { responses: { 200: { description: 'new' } } } as never };
  expect(breaking(current, added)).toEqual([]);
});
