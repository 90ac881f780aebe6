// Schema-valid messages that once stopped every partition: each is now refused with its reason,
// and the next good message on the same partition is applied.
import { randomUUID } from 'node:crypto';
import { AvroCodec, readSchema } from '../../src/adapters/schema-registry/avro-codec';
import { mintLocalToken } from '../../src/entry-points/http/auth';
import type { ApprovalDecision, CardOperationRequest } from '../../src/domain/card-operation';
import { pollUntil } from '../../src/libraries/retry';
import { aCard, aDecision, aPerson, aRequest } from '../support/builders';
import { TEST_AUTH_SECRET, startHarnessWithWorker, type DeadLetterSeen, type Harness } from '../support/test-worker';

let harness: Harness;
let base: string;
beforeAll(async () => ({ harness, base } = await startHarnessWithWorker({ AUTH_SECRET: TEST_AUTH_SECRET })));
afterAll(() => harness?.stop());

/** Publishes `bad`, then a good request under the same key (so on the same partition). */
async function badThenGood(bad: CardOperationRequest): Promise<{ dead: DeadLetterSeen; good: CardOperationRequest }> {
  const key = `key-${randomUUID()}`;
  const topic = harness.config.topics.requests[bad.operation];
  const good = aRequest(bad.operation);
  for (const request of [bad, good]) await harness.publishRaw(topic, key, await harness.encodeWith(`${topic}-value`, 'card-operation-request', request));
  const dead = await harness.waitForDeadLetter((d) => d.key === key);
  await harness.waitForEvents(good.requestId, 1);
  expect(await harness.record(bad.requestId)).toBeUndefined();
  return { dead, good };
}

test.each<[string, (request: CardOperationRequest) => CardOperationRequest, RegExp]>([
  ['a NUL in its description', (r) => ({ ...r, description: 'lock it\u0000 now' }), /description contains a control or invalid character \(U\+0000\)/],
  ['a NUL in its requester name', (r) => ({ ...r, requester: { ...r.requester, name: 'Rita\u0000' } }), /requester.name contains a control or invalid character \(U\+0000\)/],
  ['requestedAt in microseconds', (r) => ({ ...r, requestedAt: Date.now() * 1000 }), /requestedAt \d+ is not a time in milliseconds between 1970 and 9999/],
  ['a card validTo of 9e15', (r) => ({ ...r, cards: [aCard(aPerson('holder'), { validTo: 9e15 })] }), /cards\[0\].validTo 9000000000000000 is not a time/],
])('when a request has %s, then it is dead-lettered as INVALID_CONTENT and the next one on its partition is opened', async (_, spoil, detail) => {
  const { dead } = await badThenGood(spoil(aRequest('LOCK_CARD')));
  expect(dead.headers['dlq.reason']).toBe('INVALID_CONTENT');
  expect(dead.headers['dlq.detail']).toMatch(detail);
});

test.each<[string, Partial<ApprovalDecision>, RegExp]>([
  ['a NUL in its reason', { decision: 'REJECTED', reason: 'no\u0000' }, /reason contains a control or invalid character \(U\+0000\)/],
  ['decidedAt in microseconds', { decidedAt: Date.now() * 1000 }, /decidedAt \d+ is not a time/],
  ['a NUL in a per-card reason', { cardOutcomes: [{ cardIndex: 0, outcome: 'REJECTED', reason: 'no\u0000' }] }, /cardOutcomes\[0\].reason contains a control or invalid character \(U\+0000\)/],
  ['a reassignment to a person without an email', { decision: 'REASSIGNED', actingAs: 'OPERATOR', reassign: { from: aPerson('a'), to: { ...aPerson('b'), email: 'nobody' } } }, /reassign.to.email "nobody" is not a valid address/],
  ['a reassignment without whom to', { decision: 'REASSIGNED', actingAs: 'OPERATOR' }, /reassign is given with REASSIGNED, and only with it/],
])('when a decision has %s, then it is dead-lettered as INVALID_CONTENT and the next decision on its request applies', async (_, spoil, detail) => {
  const request = aRequest('LOCK_CARD');
  const bad = aDecision(request, 'APPROVED', spoil);
  const good = aDecision(request, 'APPROVED');
  await harness.publishRequest(request, bad, good);
  const dead = await harness.waitForDeadLetter((d) => d.key === request.requestId);
  expect(dead.headers['dlq.reason']).toBe('INVALID_CONTENT');
  expect(dead.headers['dlq.detail']).toMatch(detail);
  const [, approved] = await harness.waitForEvents(request.requestId, 2);
  expect(approved).toMatchObject({ type: 'APPROVED', decision: { decisionId: good.decisionId } });
});

test('when an approver posts a reason with a NUL through the API, then it is refused with 400 INVALID_CONTENT and nothing is published', async () => {
  const request = aRequest('LOCK_CARD');
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);
  const approver = request.approvers[0]!;
  const token = await mintLocalToken(harness.config.auth, { ...approver, roles: ['approver'] });
  const post = (reason: string): Promise<Response> =>
    fetch(`${base}/api/requests/${encodeURIComponent(request.requestId)}/decisions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ decision: 'REJECTED', reason }),
    });
  const refused = await post('no\u0000');
  expect(refused.status).toBe(400);
  expect(await refused.json()).toMatchObject({ error: 'INVALID_CONTENT' });
  expect((await post('Badge stays with security')).status).toBe(202);
  const [, rejected] = await harness.waitForEvents(request.requestId, 2);
  expect(rejected).toMatchObject({ type: 'REJECTED', decision: { reason: 'Badge stays with security' } });
});

test('when every approver is the requester or a card holder, then the request is dead-lettered as NO_ELIGIBLE_APPROVERS', async () => {
  const request = aRequest('LOCK_CARD');
  const { dead } = await badThenGood({ ...request, approvers: [request.requester, request.cards[0]!.holder] });
  expect(dead.headers['dlq.reason']).toBe('NO_ELIGIBLE_APPROVERS');
});

test('when a known requestId comes again with other content, then it is dead-lettered as CONFLICTING_DUPLICATE, and an exact redelivery is not', async () => {
  const request = aRequest('DEACTIVATE_CARD');
  await harness.publishRequest(request);
  await harness.publishRequest(request); // a redelivery: silently a duplicate
  await harness.publishRequest({ ...request, description: 'something else entirely' });
  const dead = await harness.waitForDeadLetter((d) => d.key === request.requestId);
  expect(dead.headers['dlq.reason']).toBe('CONFLICTING_DUPLICATE');
  expect(dead.headers['dlq.detail']).toContain('description differ');
  expect(await harness.record(request.requestId)).toMatchObject({ description: request.description });
});

test('when the database refuses one message of a batch for good, then that one is dead-lettered as REJECTED_BY_STORE and the rest are applied', async () => {
  // A rule only the database knows stands in for any value it refuses that validation did not foresee.
  await harness.db.query(`ALTER TABLE approval_requests ADD CONSTRAINT test_refuses_poison CHECK (description IS DISTINCT FROM 'poison')`);
  try {
    const key = `key-${randomUUID()}`;
    const topic = harness.config.topics.requests.LOCK_CARD;
    const [before, poison, after] = [aRequest('LOCK_CARD'), aRequest('LOCK_CARD', { description: 'poison' }), aRequest('LOCK_CARD')];
    const values = await Promise.all([before, poison, after].map((r) => harness.encodeWith(`${topic}-value`, 'card-operation-request', r)));
    await harness.publishRawBatch(topic, values.map((value) => ({ key, value })));
    const dead = await harness.waitForDeadLetter((d) => d.key === key);
    expect(dead.headers['dlq.reason']).toBe('REJECTED_BY_STORE');
    expect(dead.headers['dlq.detail']).toContain('test_refuses_poison');
    await harness.waitForEvents(before.requestId, 1);
    await harness.waitForEvents(after.requestId, 1);
    expect(await harness.record(poison.requestId)).toBeUndefined();
  } finally {
    await harness.db.query('ALTER TABLE approval_requests DROP CONSTRAINT test_refuses_poison');
  }
});

test('when an email can never be rendered, then it is parked with the reason instead of retried', async () => {
  // Emails of data stored before today's validation could hold what a template cannot show.
  const request = aRequest('LOCK_CARD');
  await harness.publishRequest(request);
  const [opened] = await harness.waitForEvents(request.requestId, 1);
  const unrenderable = { ...opened!, eventId: `unrenderable-${randomUUID()}`, cards: [{ ...opened!.cards[0]!, validTo: 9e15 }] };
  await harness.db.query(
    `INSERT INTO approval_events (event_id, request_id, type, payload, occurred_at, published_at) VALUES ($1, $2, 'OPENED', $3, now(), now())`,
    [unrenderable.eventId, request.requestId, JSON.stringify(unrenderable)],
  );
  await harness.db.query(`INSERT INTO email_outbox (event_id, recipient_email, recipient, template, message_id) VALUES ($1, $2, $3, 'approval-requested', $4)`, [
    unrenderable.eventId,
    request.approvers[0]!.email,
    JSON.stringify(request.approvers[0]),
    `<${unrenderable.eventId}@test>`,
  ]);
  const [parked] = await pollUntil(
    (): Promise<Array<{ status: string; attempts: number; last_error: string }>> =>
      harness.db.query(`SELECT status, attempts, last_error FROM email_outbox WHERE event_id = $1`, [unrenderable.eventId]),
    (rows) => rows[0]?.status === 'PARKED',
    { what: 'the email parked' },
  );
  expect(parked).toMatchObject({ status: 'PARKED', attempts: 1 });
  expect(parked!.last_error).toMatch(/cannot be rendered: Invalid time value/);
});

test('when an upstream writer sends a decision kind added to the contract after our schema, then we read it as UNKNOWN and dead-letter it as INVALID_CONTENT', async () => {
  const request = aRequest('LOCK_CARD');
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);
  // A newer writer's schema: one more decision kind (the registry takes it: our readers default it).
  const newer = readSchema('approval-decision') as { fields: Array<{ name: string; type: unknown }> };
  const withKind = (type: { symbols: string[] }) => ({ ...type, symbols: [...type.symbols, 'ESCALATED_BY_HAND'] });
  const future = { ...newer, fields: newer.fields.map((f) => (f.name === 'decision' ? { ...f, type: withKind(f.type as { symbols: string[] }) } : f)) };
  const codec = new AvroCodec(harness.config.schemaRegistryUrl);
  const id = await codec.register(`${harness.config.topics.decisions}-value`, 'approval-decision', future);
  await harness.publishRaw(harness.config.topics.decisions, request.requestId, await codec.encode(id, { ...aDecision(request, 'APPROVED'), decision: 'ESCALATED_BY_HAND' }));
  const dead = await harness.waitForDeadLetter((d) => d.key === request.requestId);
  expect(dead.headers['dlq.reason']).toBe('INVALID_CONTENT');
  expect(dead.headers['dlq.detail']).toMatch(/decision UNKNOWN is not one this worker knows/);
  expect(await harness.record(request.requestId)).toMatchObject({ status: 'PENDING' });
});
