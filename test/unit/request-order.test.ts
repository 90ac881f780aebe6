// The list cursor: what the API gives out comes back as the same position, and whatever else a
// caller sends is refused as an invalid cursor, never as another error on its way to the database.
import fc from 'fast-check';
import { InvalidCursorError, SORTS, decodeCursor, encodeCursor, type Position } from '../../src/data-access/request-order';
import { idProblem } from '../../src/domain/validate-message';

const aPosition = fc.record({
  sort: fc.constantFrom(...SORTS),
  // As Postgres prints opened_at: microseconds, UTC.
  openedAt: fc
    .tuple(fc.date({ min: new Date(0), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }), fc.integer({ min: 0, max: 999 }))
    .map(([date, micros]) => `${date.toISOString().slice(0, 23)}${String(micros).padStart(3, '0')}Z`),
  // Any id the consumer would have stored.
  requestId: fc.string({ minLength: 1, maxLength: 60, unit: 'grapheme' }).filter((id) => idProblem('id', id) === undefined),
});

/** What decoding makes of a cursor: the position, or the refusal's message. */
function outcome(cursor: string, sort: Position['sort']): Position | string {
  try {
    return decodeCursor(cursor, sort);
  } catch (error) {
    if (error instanceof InvalidCursorError) return error.message;
    throw error;
  }
}

test('when a cursor the API gave out comes back with the same sort, then it names the same position', () => {
  fc.assert(fc.property(aPosition, (position) => expect(decodeCursor(encodeCursor(position), position.sort)).toEqual(position)));
});

test('when anything else comes back as a cursor, then it is refused as an invalid cursor and nothing else', () => {
  const hostile = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }).map((s) => Buffer.from(s).toString('base64url')),
    fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')),
    fc.record({ s: fc.oneof(fc.constantFrom(...SORTS), fc.string()), t: fc.oneof(fc.string(), fc.integer(), fc.date({ noInvalidDate: true }).map((d) => d.toISOString())), id: fc.oneof(fc.string({ unit: 'binary' }), fc.constant(null)) })
      .map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')),
  );
  fc.assert(
    fc.property(hostile, fc.constantFrom(...SORTS), (cursor, sort) => {
      const result = outcome(cursor, sort);
      // Accepted only as a whole, well-formed position in the order asked for.
      if (typeof result !== 'string') expect(decodeCursor(encodeCursor(result), sort)).toEqual(result);
    }),
  );
  for (const openedAt of ['2025-02-30T10:00:00.000000Z', '0000-01-01T00:00:00.000000Z', '1969-12-31T23:59:59.999999Z', '2025-01-30T10:00:00.000Z']) {
    expect(outcome(encodeCursor({ sort: 'opened_at', openedAt, requestId: 'req-1' }), 'opened_at')).toBe('the cursor holds no valid time');
  }
  expect(outcome(encodeCursor({ sort: 'opened_at', openedAt: '2025-01-30T10:00:00.000000Z', requestId: 'req-\u0000' }), 'opened_at')).toMatch(/control or invalid character/);
  expect(outcome(encodeCursor({ sort: 'opened_at', openedAt: '2025-01-30T10:00:00.000000Z', requestId: 'req-1' }), '-opened_at')).toMatch(/belongs to sort=opened_at/);
  expect(outcome('A'.repeat(2000), 'opened_at')).toBe('the cursor is not one this API gave out');
});
