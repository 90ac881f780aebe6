// The orders approval requests are listed in, and the cursor that marks a place in one.
//
// Lists page by keyset, not by OFFSET: a page starts after the last row of the page before,
// found through the (opened_at, request_id) index, so the thousandth page costs what the first
// does (OFFSET reads and drops every row before the page, and a caller could ask for that on
// every call). The cursor carries opened_at to the microsecond, as Postgres stores it, and the
// request id that breaks ties: rows opened in the same instant are neither skipped nor repeated.
import { TIMESTAMP_RANGE, idProblem } from '../domain/validate-message';

/** Newest first (the default) or oldest first, both by when the worker opened the request. */
export const SORTS = ['-opened_at', 'opened_at'] as const;
export type Sort = (typeof SORTS)[number];

/** Where a list stopped: the sort key of the last row a page returned. */
export interface Position {
  sort: Sort;
  /** `YYYY-MM-DDTHH:MM:SS.ffffffZ`: every digit Postgres keeps, which a JavaScript Date would round away. */
  openedAt: string;
  requestId: string;
}

/** Selected beside every listed row, so the position after it can be given exactly. */
export const POSITION_COLUMN = `to_char(opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS position_opened_at`;

export function orderBy(sort: Sort): string {
  return sort === 'opened_at' ? 'opened_at ASC, request_id ASC' : 'opened_at DESC, request_id DESC';
}

/** The rows after `position` in its order; `at` and `id` are the placeholders bound to its two values. */
export function afterPosition(position: Position, at: string, id: string): string {
  const op = position.sort === 'opened_at' ? '>' : '<';
  // The first term follows from the second; it lets an index that has opened_at but not
  // request_id (the pending requests' one) bound its scan too.
  return `opened_at ${op}= ${at}::timestamptz AND (opened_at, request_id) ${op} (${at}::timestamptz, ${id})`;
}

export function positionOf(row: Record<string, unknown>, sort: Sort): Position {
  return { sort, openedAt: row.position_opened_at as string, requestId: row.request_id as string };
}

/** A cursor that this server did not give out, or gave out for another order. */
export class InvalidCursorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidCursorError';
  }
}

/** Longer than any cursor this server gives out (a request id has at most 200 characters). */
const MAX_CURSOR_LENGTH = 1024;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** Opaque to clients: base64url of a small JSON document. It grants nothing, it only says where to go on. */
export function encodeCursor(position: Position): string {
  return Buffer.from(JSON.stringify({ s: position.sort, t: position.openedAt, id: position.requestId })).toString('base64url');
}

/** The position a cursor names, checked field by field; `sort` is the order the caller asks for now. */
export function decodeCursor(cursor: string, sort: Sort): Position {
  if (cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw new InvalidCursorError('the cursor is not one this API gave out');
  let fields: unknown;
  try {
    fields = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError('the cursor is not one this API gave out');
  }
  const { s, t, id } = (typeof fields === 'object' && fields !== null ? fields : {}) as Record<string, unknown>;
  if (!(SORTS as readonly unknown[]).includes(s) || typeof t !== 'string' || typeof id !== 'string') {
    throw new InvalidCursorError('the cursor is not one this API gave out');
  }
  if (s !== sort) throw new InvalidCursorError(`the cursor belongs to sort=${String(s)}, not sort=${sort}: keep the sort while paging`);
  // A real instant (not 2025-02-30) in the years a request can be opened (Postgres has no year
  // 0000, for one), and an id the consumer would have accepted.
  const millis = new Date(`${t.slice(0, 23)}Z`).getTime();
  if (!TIMESTAMP.test(t) || !(millis >= TIMESTAMP_RANGE.min && millis <= TIMESTAMP_RANGE.max) || new Date(millis).toISOString().slice(0, 23) !== t.slice(0, 23)) {
    throw new InvalidCursorError('the cursor holds no valid time');
  }
  const problem = idProblem('the cursor\'s request id', id);
  if (problem) throw new InvalidCursorError(problem);
  return { sort: s as Sort, openedAt: t, requestId: id };
}
