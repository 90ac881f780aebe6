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
/** `request_id text, operation text, …`: the record type for `jsonb_to_recordset`. */
export const RECORD_COLUMN_TYPES = fields.map(([, [column, type]]) => `${column} ${type}`).join(', ');
/** `status = r.status, …` for the columns a decision changes. */
export const RECORD_CHANGED_COLUMNS = (alias: string): string =>
  fields
    .filter(([, [, , changed]]) => changed)
    .map(([, [column]]) => `${column} = ${alias}.${column}`)
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

/** The record as one element of the JSON array a write statement reads with `jsonb_to_recordset`. */
export function recordToRow(record: ApprovalRecord): RecordRow {
  const row: RecordRow = {};
  for (const { field, column, time } of COLUMNS) {
    const value = record[field];
    row[column] = time && value !== null ? new Date(value as number).toISOString() : value;
  }
  return row;
}
