// The approval record's columns, declared once: the column list, the row mapper and the JSON a
// write sends all derive from this table.
import type { ApprovalRecord } from '../domain/approval';
import { stagesOfRecordBeforeStages } from '../domain/approval-votes';

type SqlType = 'text' | 'jsonb' | 'timestamptz' | 'int';

/** [column, type, changed later]: a decision or a timer rewrites only the columns marked true (an escalation adds approvers, a reassignment changes stages). */
const RECORD_COLUMNS: { [K in keyof ApprovalRecord]-?: readonly [string, SqlType, boolean] } = {
  requestId: ['request_id', 'text', false],
  operation: ['operation', 'text', false],
  status: ['status', 'text', true],
  requester: ['requester', 'jsonb', false],
  cards: ['cards', 'jsonb', false],
  approvers: ['approvers', 'jsonb', true],
  escalatedTo: ['escalated_to', 'jsonb', true],
  requestedApprovers: ['requested_approvers', 'jsonb', false],
  approvalRule: ['approval_rule', 'jsonb', false],
  stages: ['stages', 'jsonb', true],
  stage: ['stage', 'int', true],
  votes: ['votes', 'jsonb', true],
  cardResults: ['card_results', 'jsonb', true],
  description: ['description', 'text', false],
  attributes: ['attributes', 'jsonb', false],
  requestedAt: ['requested_at', 'timestamptz', false],
  openedAt: ['opened_at', 'timestamptz', false],
  updatedAt: ['updated_at', 'timestamptz', true],
  closedAt: ['closed_at', 'timestamptz', true],
  outcomeDecisionId: ['outcome_decision_id', 'text', true],
  lastPostponedBy: ['last_postponed_by', 'jsonb', true],
  lastPostponedAt: ['last_postponed_at', 'timestamptz', true],
  dueAt: ['due_at', 'timestamptz', false],
  version: ['version', 'int', true],
};

const fields = Object.entries(RECORD_COLUMNS) as Array<[keyof ApprovalRecord, readonly [string, SqlType, boolean]]>;
/** The same, as the mappers below walk it for every record: objects, not tuples to destructure (which allocates an iterator each). */
const COLUMNS = fields.map(([field, [column, type]]) => ({ field, column, time: type === 'timestamptz' }));

/** `request_id, operation, …` */
export const RECORD_COLUMN_NAMES = fields.map(([, [column]]) => column).join(', ');
/**
 * A write sends records as they are (`JSON.stringify` of the records, times in epoch milliseconds),
 * so no row is built for them: `"requestId" text, …, "openedAt" float8` is that JSON's record type
 * for `jsonb_to_recordset`, and RECORD_VALUES_FROM_JSON reads the columns from it.
 */
export const RECORD_JSON_TYPES = fields.map(([field, [, type]]) => `"${field}" ${type === 'timestamptz' ? 'float8' : type}`).join(', ');
const fromJson = (alias: string, field: string, type: SqlType): string => (type === 'timestamptz' ? `to_timestamp(${alias}."${field}" / 1000.0)` : `${alias}."${field}"`);
/** The values of RECORD_COLUMN_NAMES, in its order, from records' JSON read as `alias`. */
export const RECORD_VALUES_FROM_JSON = (alias: string): string => fields.map(([field, [, type]]) => fromJson(alias, field, type)).join(', ');
/** `status = r."status", …` for the columns a decision changes, from records' JSON read as `alias`. */
export const RECORD_CHANGED_COLUMNS = (alias: string): string =>
  fields
    .filter(([, [, , changed]]) => changed)
    .map(([field, [column, type]]) => `${column} = ${fromJson(alias, field, type)}`)
    .join(', ');

export type RecordRow = Record<string, unknown>;

/**
 * The record a row holds, as whichever version wrote it. A version from before stages (the
 * previous one, during a rolling update) leaves `stages` at the column's default `[]`: such a
 * record keeps its old meaning (stagesOfRecordBeforeStages), and is stored so at its next change.
 */
export function recordFromRow(row: RecordRow): ApprovalRecord {
  const record: Record<string, unknown> = {};
  for (const { field, column, time } of COLUMNS) {
    const value = row[column];
    record[field] = time && value !== null ? new Date(value as string).getTime() : value;
  }
  const read = record as unknown as ApprovalRecord;
  return read.stages.length === 0 ? { ...read, stages: stagesOfRecordBeforeStages(read) } : read;
}

/** The row a record is stored as, as recordFromRow reads it. */
export function recordToRow(record: ApprovalRecord): RecordRow {
  const row: RecordRow = {};
  for (const { field, column, time } of COLUMNS) {
    const value = record[field];
    row[column] = time && value !== null ? new Date(value as number).toISOString() : value;
  }
  return row;
}
