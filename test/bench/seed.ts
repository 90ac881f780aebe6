// Records "already stored" for the large-database phase: generated in the database itself (a
// million take seconds; their events, which the history's trigger chains one by one, about two
// minutes), spread like production data: 5 operations, 70% approved,
// 20% rejected, 10% pending, 5,000 requesters, 500 approvers on about 4,000 requests each, one
// record a second going back in time. $1 is the number of records.
export const SEED_SQL = `
INSERT INTO approval_requests (request_id, operation, status, requester, cards, approvers, description, attributes,
  requested_at, opened_at, updated_at, closed_at, version)
SELECT 'seed-' || i,
  (ARRAY['REQUEST_CARD','DEACTIVATE_CARD','REACTIVATE_CARD','LOCK_CARD','REQUEST_MULTIPLE_CARDS'])[1 + i % 5],
  CASE WHEN i % 10 < 7 THEN 'APPROVED' WHEN i % 10 < 9 THEN 'REJECTED' ELSE 'PENDING' END,
  jsonb_build_object('id', 'requester-' || i % 5000, 'name', 'Requester ' || i % 5000, 'email', 'requester-' || i % 5000 || '@seed.example.com', 'locale', null),
  jsonb_build_array(jsonb_build_object('cardId', 'card-' || i, 'cardType', 'EMPLOYEE_BADGE', 'serialNumber', 'SN-' || i,
    'holder', jsonb_build_object('id', 'holder-' || i, 'name', 'Holder ' || i, 'email', 'holder-' || i || '@seed.example.com', 'locale', null),
    'status', 'ACTIVE', 'validTo', 1830297600000)),
  jsonb_build_array(
    jsonb_build_object('id', 'approver-' || i % 500, 'name', 'Approver ' || i % 500, 'email', 'approver-' || i % 500 || '@seed.example.com', 'locale', null),
    jsonb_build_object('id', 'approver-' || (i + 1) % 500, 'name', 'Approver ' || (i + 1) % 500, 'email', 'approver-' || (i + 1) % 500 || '@seed.example.com', 'locale', null)),
  'Seeded request ' || i || ' for an earlier employee wave', '{}'::jsonb,
  now() - make_interval(secs => $1::int - i), now() - make_interval(secs => $1::int - i), now() - make_interval(secs => $1::int - i),
  CASE WHEN i % 10 < 9 THEN now() - make_interval(secs => $1::int - i) END, 1
FROM generate_series(1, $1::int) AS i`;

/**
 * What the seeded records left behind, as a worker without retention keeps it: their events
 * (OPENED, and the end of each closed one), published when they happened, each in the history too
 * (the database copies and chains them), and the approver's email of each, sent. The events of
 * records $1 to $2, a statement each SEED_EVENTS_CHUNK: the history's chain takes each request's
 * lock, and one transaction holds at most a few thousand locks.
 */
export const SEED_EVENTS_SQL = `INSERT INTO approval_events (event_id, request_id, type, status_before, status_after, payload, occurred_at, published_at)
   SELECT r.request_id || '-' || k, r.request_id, CASE k WHEN 1 THEN 'OPENED' ELSE r.status END,
     CASE k WHEN 1 THEN NULL ELSE 'PENDING' END, CASE k WHEN 1 THEN 'PENDING' ELSE r.status END, '{"message":null}'::jsonb,
     CASE k WHEN 1 THEN r.opened_at ELSE r.closed_at END, CASE k WHEN 1 THEN r.opened_at ELSE r.closed_at END
   FROM approval_requests r, generate_series(1, CASE WHEN r.status = 'PENDING' THEN 1 ELSE 2 END) AS k
   WHERE r.request_id = ANY(ARRAY(SELECT 'seed-' || i FROM generate_series($1::int, $2::int) AS i)) ORDER BY r.opened_at, k`;
export const SEED_EVENTS_CHUNK = 2000;

export const SEED_OUTBOX_SQL = [
  `INSERT INTO email_outbox (event_id, recipient_email, recipient, template, message_id, status, created_at, sent_at)
   SELECT e.event_id, r.approvers->0->>'email', r.approvers->0, 'approval-requested', '<' || e.event_id || '@seed.example.com>', 'SENT', e.occurred_at, e.occurred_at
   FROM approval_events e JOIN approval_requests r USING (request_id) WHERE e.type = 'OPENED' AND e.request_id LIKE 'seed-%'`,
];
