import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A batch's locks and its read in one round trip, planned once per connection (expand: only new
 * functions; the previous version goes on locking and reading with its own statements, which take
 * the same locks).
 *
 * approval_lock_v1 takes the advisory locks of requests and card keys in one global order (by
 * key, card keys in a namespace of their own), so two transactions taking them at once never
 * deadlock; the key of a request is the one the audit chain's trigger takes.
 *
 * approval_batch_state_v1 locks the batch's requests and card keys, then the pending approvals
 * that hold those keys (the batch may supersede them), and only then reads: a function's
 * statements each see what was committed when they began, so the read sees every transaction
 * that held these locks before. It returns the state a batch folds over as one JSON object.
 * Delegations are those not yet ended or revoked to the batch's deciders and to those of
 * decisions waiting for these requests. plpgsql keeps the plans of its statements for the
 * connection's life.
 *
 * audit_person_keys_v1 makes the audit keys (1765400000000) of the people a batch records acting,
 * those that have none yet, in one order, and is called in a transaction of its own just before
 * the batch's. Made inside the batch's transaction by the history's trigger, a new person's key
 * held up every other batch naming that person until the commit (a second and more, as two
 * partitions met a new approver at once), and two batches making two new keys in opposite orders
 * deadlocked. The trigger still makes any key missing.
 *
 * A function's name carries its version: a change is a new function, so both versions of a
 * rolling update call the one they were written for.
 */
export class BatchState1765600000000 implements MigrationInterface {
  name = 'BatchState1765600000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE OR REPLACE FUNCTION approval_lock_v1(request_ids text[], card_keys text[]) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        PERFORM pg_advisory_xact_lock(k) FROM (
          SELECT DISTINCT hashtextextended(id, 0) AS k
          FROM unnest(request_ids || ARRAY(SELECT 'card:' || c FROM unnest(card_keys) AS c)) AS id ORDER BY k
        ) AS ordered;
      END $$`);
    await db.query(`
      CREATE OR REPLACE FUNCTION approval_batch_state_v1(args jsonb) RETURNS json LANGUAGE plpgsql VOLATILE AS $$
      DECLARE
        request_ids text[] := ARRAY(SELECT jsonb_array_elements_text(args->'requestIds'));
        decision_ids text[] := ARRAY(SELECT jsonb_array_elements_text(args->'decisionIds'));
        card_keys text[] := ARRAY(SELECT jsonb_array_elements_text(args->'cardKeys'));
        decider_ids text[] := ARRAY(SELECT lower(jsonb_array_elements_text(args->'deciderIds')));
        decider_emails text[] := ARRAY(SELECT lower(jsonb_array_elements_text(args->'deciderEmails')));
        holders text[];
      BEGIN
        PERFORM approval_lock_v1(request_ids, card_keys);
        holders := ARRAY(SELECT DISTINCT request_id FROM approval_card_keys WHERE card_key = ANY(card_keys) AND request_id <> ALL(request_ids));
        IF cardinality(holders) > 0 THEN
          PERFORM approval_lock_v1(holders, '{}');
          request_ids := request_ids || holders;
        END IF;
        RETURN json_build_object(
          'records', (SELECT coalesce(json_agg(r), '[]') FROM approval_requests r WHERE r.request_id = ANY(request_ids)),
          'holders', (SELECT coalesce(json_agg(h), '[]') FROM (SELECT card_key, request_id FROM approval_card_keys WHERE card_key = ANY(card_keys)) h),
          'known', (SELECT coalesce(json_agg(d.decision_id), '[]') FROM approval_decisions d WHERE d.decision_id = ANY(decision_ids)),
          'awaiting', (SELECT coalesce(json_agg(d ORDER BY d.decided_at, d.received_at, d.arrival), '[]') FROM approval_decisions d
            WHERE d.request_id = ANY(request_ids) AND d.outcome = 'AWAITING_REQUEST'),
          -- OFFSET 0 keeps the planner on the request index: combined with the partial index of
          -- unpublished events, which holds an entry for every event published since the last
          -- vacuum, this took a millisecond and more per batch.
          'unpublished', (SELECT coalesce(json_agg(DISTINCT e.request_id), '[]') FROM (SELECT request_id, published_at FROM approval_events
            WHERE request_id = ANY(request_ids) OFFSET 0) AS e WHERE e.published_at IS NULL),
          'delegations', (SELECT coalesce(json_agg(g), '[]') FROM approval_delegations g
            WHERE g.revoked_at IS NULL AND g.ends_at > now() AND (
              lower(g.delegate->>'id') = ANY(decider_ids || ARRAY(SELECT lower(d.approver->>'id') FROM approval_decisions d WHERE d.request_id = ANY(request_ids) AND d.outcome = 'AWAITING_REQUEST'))
              OR lower(g.delegate->>'email') = ANY(decider_emails || ARRAY(SELECT lower(d.approver->>'email') FROM approval_decisions d WHERE d.request_id = ANY(request_ids) AND d.outcome = 'AWAITING_REQUEST')))));
      END $$`);
    await db.query(`
      CREATE OR REPLACE FUNCTION audit_person_keys_v1(people jsonb) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        PERFORM audit_person_key(p) FROM (SELECT DISTINCT lower(id) AS p FROM jsonb_array_elements_text(people) AS id ORDER BY p) AS ordered;
      END $$`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP FUNCTION IF EXISTS audit_person_keys_v1(jsonb)');
    await db.query('DROP FUNCTION IF EXISTS approval_batch_state_v1(jsonb)');
    await db.query('DROP FUNCTION IF EXISTS approval_lock_v1(text[], text[])');
  }
}
