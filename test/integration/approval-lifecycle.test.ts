// The card-approval lifecycle end to end, through the real broker, registry, database and SMTP
// server: requests open records and email approvers; decisions close them, publish outcome
// events and email requesters; duplicates have no second effect.
import { OPERATIONS } from '../../src/domain/card-operation';
import { aDecision, aPerson, aRequest } from '../support/builders';
import { deliveredHeaders, emailsTo, messageIdOf, waitForEmails } from '../support/inbox';
import { pollUntil } from '../../src/libraries/retry';
import { startHarness, type Harness } from '../support/test-worker';

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
  await harness.startWorker();
});

afterAll(async () => {
  await harness?.stop();
});

const statusOf = async (requestId: string): Promise<unknown> => (await harness.record(requestId))?.status;

describe.each(OPERATIONS)('%s', (operation) => {
  test('when a request arrives, then one pending record, an OPENED event and one email per approver follow', async () => {
    const request = aRequest(operation);
    await harness.publishRequest(request);

    const [opened] = await harness.waitForEvents(request.requestId, 1);
    expect(opened).toMatchObject({ type: 'OPENED', status: 'PENDING', operation, requestId: request.requestId });
    expect(opened!.cards).toHaveLength(request.cards.length);
    expect(opened!.requestedAt).toBe(request.requestedAt);
    expect(await harness.record(request.requestId)).toMatchObject({ status: 'PENDING', operation });

    for (const approver of request.approvers) {
      const [email] = await waitForEmails(approver.email, 1);
      expect(email!.subject).toContain(request.requestId);
      // Sent by a program, and without EMAIL_REPLY_TO no Reply-To.
      const headers = await deliveredHeaders(email!);
      expect(headers).toMatchObject({ 'auto-submitted': 'auto-generated', 'x-auto-response-suppress': 'All' });
      expect(headers['reply-to']).toBeUndefined();
      expect(email!.html).toContain('Request information');
      expect(email!.html).toContain('Requester information');
      for (const card of request.cards) expect(email!.html).toContain(card.serialNumber!);
      expect(email!.text).toContain(`/approvals/${request.requestId}`);
      expect(email!.text).toContain(`Requested at: ${new Date(request.requestedAt).toISOString().slice(0, 16).replace('T', ' ')} UTC`);
    }
  });

  test('when an approver approves, then the record is approved, APPROVED is published and the requester is emailed', async () => {
    const request = aRequest(operation);
    const approval = aDecision(request, 'APPROVED', { approver: request.approvers[1]! });
    await harness.publishRequest(request, approval);

    const events = await harness.waitForEvents(request.requestId, 2);
    expect(events.map((e) => e.type)).toEqual(['OPENED', 'APPROVED']);
    expect(events[1]).toMatchObject({ status: 'APPROVED', decision: { decisionId: approval.decisionId, decision: 'APPROVED' } });
    expect(await harness.record(request.requestId)).toMatchObject({ status: 'APPROVED', outcome_decision_id: approval.decisionId });

    const [email] = await waitForEmails(request.requester.email, 1);
    expect(email!.subject).toMatch(/^Approved(: | \()/);
    expect(email!.text).toContain(request.approvers[1]!.name);
  });
});

test('when an approver rejects with a reason, then the record is rejected and the requester is told the reason', async () => {
  const request = aRequest('DEACTIVATE_CARD');
  await harness.publishRequest(request, aDecision(request, 'REJECTED', { reason: 'Badge is still needed for the audit' }));

  const events = await harness.waitForEvents(request.requestId, 2);
  expect(events[1]).toMatchObject({ type: 'REJECTED', status: 'REJECTED', decision: { reason: 'Badge is still needed for the audit' } });
  expect(await statusOf(request.requestId)).toBe('REJECTED');
  const [email] = await waitForEmails(request.requester.email, 1);
  expect(email!.subject).toMatch(/^Rejected(: | \()/);
  expect(email!.text).toContain('Reason: Badge is still needed for the audit');
});

test('when an approver postpones, then the request stays pending, and a later approval still closes it', async () => {
  const request = aRequest('REACTIVATE_CARD');
  const postpone = aDecision(request, 'POSTPONED');
  await harness.publishRequest(request, postpone);

  const [, postponed] = await harness.waitForEvents(request.requestId, 2);
  expect(postponed).toMatchObject({ type: 'POSTPONED', status: 'PENDING' });
  const record = await harness.record(request.requestId);
  expect(record).toMatchObject({ status: 'PENDING', last_postponed_by: request.approvers[0] });

  await harness.publishDecision(aDecision(request, 'APPROVED'));
  const events = await harness.waitForEvents(request.requestId, 3);
  expect(events.map((e) => e.type)).toEqual(['OPENED', 'POSTPONED', 'APPROVED']);
  expect(await statusOf(request.requestId)).toBe('APPROVED');
  const history: Array<{ type: string }> = await harness.db.query('SELECT type FROM approval_events WHERE request_id = $1 ORDER BY seq', [request.requestId]);
  expect(history.map((h) => h.type)).toEqual(['OPENED', 'POSTPONED', 'APPROVED']);
});

test('when a request and a decision are delivered twice, then there is one record, one event each and no extra email', async () => {
  const request = aRequest('LOCK_CARD');
  await harness.publishRequest(request);
  const approval = aDecision(request, 'APPROVED');
  await harness.publishRequest(request, approval);
  await harness.publishDecision(approval);
  // A marker decision after the duplicates: once its refusal is out, the duplicates were processed.
  await harness.publishDecision(aDecision(request, 'APPROVED', { approver: request.approvers[1]! }));

  const events = await harness.waitForEvents(request.requestId, 3);
  expect(events.map((e) => e.type)).toEqual(['OPENED', 'APPROVED', 'DECISION_REFUSED']);
  const [{ count }] = await harness.db.query('SELECT count(*)::int AS count FROM approval_decisions WHERE request_id = $1', [request.requestId]);
  expect(count).toBe(2);
  await waitForEmails(request.requester.email, 1);
  for (const approver of request.approvers) expect(await emailsTo(approver.email)).toHaveLength(1);
  expect(await emailsTo(request.requester.email)).toHaveLength(1);
});

describe('refusals: the record is unchanged and DECISION_REFUSED says why', () => {
  const refusalCase = async (
    build: (request: ReturnType<typeof aRequest>) => Parameters<typeof aDecision>[2] & { decision?: 'APPROVED' | 'REJECTED' },
    code: string,
  ): Promise<void> => {
    const holder = aPerson('holder');
    const request = aRequest('REQUEST_CARD', { cards: [{ ...aRequest().cards[0]!, holder }] });
    // The requester and the holder are (wrongly) listed as approvers, so the policy, not the list, refuses them.
    request.approvers.push(request.requester, holder);
    await harness.publishRequest(request);
    const { decision = 'APPROVED', ...overrides } = build(request);
    await harness.publishDecision(aDecision(request, decision, overrides));
    const [, refused] = await harness.waitForEvents(request.requestId, 2);
    expect(refused).toMatchObject({ type: 'DECISION_REFUSED', status: 'PENDING', refusalCode: code });
    expect(refused!.message).toEqual(expect.any(String));
    expect(await statusOf(request.requestId)).toBe('PENDING');
  };

  test('NOT_AN_APPROVER: someone not among the approvers', () => refusalCase(() => ({ approver: aPerson('stranger') }), 'NOT_AN_APPROVER'));
  test('SELF_APPROVAL: the requester', () => refusalCase((r) => ({ approver: r.requester }), 'SELF_APPROVAL'));
  test('HOLDER_APPROVAL: a holder of one of the cards', () => refusalCase((r) => ({ approver: r.cards[0]!.holder }), 'HOLDER_APPROVAL'));
  test('REASON_REQUIRED: a rejection with a blank reason', () => refusalCase(() => ({ decision: 'REJECTED', reason: '   ' }), 'REASON_REQUIRED'));

  test('REQUEST_CLOSED: a decision after the final one; the first final decision wins', async () => {
    const request = aRequest('LOCK_CARD');
    await harness.publishRequest(request, aDecision(request, 'APPROVED'));
    await harness.publishDecision(aDecision(request, 'REJECTED', { approver: request.approvers[1]! }));
    const events = await harness.waitForEvents(request.requestId, 3);
    expect(events.map((e) => [e.type, e.refusalCode])).toEqual([
      ['OPENED', null],
      ['APPROVED', null],
      ['DECISION_REFUSED', 'REQUEST_CLOSED'],
    ]);
    expect(await statusOf(request.requestId)).toBe('APPROVED');
  });
});

test('when a decision arrives before its request, then it is applied once the request arrives', async () => {
  const request = aRequest('LOCK_CARD');
  const approval = aDecision(request, 'APPROVED');
  await harness.publishDecision(approval);
  await pollUntil(
    async () => harness.db.query('SELECT outcome FROM approval_decisions WHERE decision_id = $1', [approval.decisionId]),
    (rows: Array<{ outcome: string }>) => rows[0]?.outcome === 'AWAITING_REQUEST',
    { what: 'the early decision to be kept' },
  );
  await harness.publishRequest(request);
  const events = await harness.waitForEvents(request.requestId, 2);
  expect(events.map((e) => e.type)).toEqual(['OPENED', 'APPROVED']);
  expect(await statusOf(request.requestId)).toBe('APPROVED');
});

test('when two decisions arrive together before their request, then they are applied in the order they arrived', async () => {
  const request = aRequest('LOCK_CARD');
  const decidedAt = Date.now();
  const approval = aDecision(request, 'APPROVED', { approver: request.approvers[0]!, decidedAt });
  const rejection = aDecision(request, 'REJECTED', { approver: request.approvers[1]!, decidedAt });
  await harness.publishDecisions(approval, rejection);
  await pollUntil(
    async () => harness.db.query(`SELECT count(*)::int AS n FROM approval_decisions WHERE request_id = $1 AND outcome = 'AWAITING_REQUEST'`, [request.requestId]),
    (rows: Array<{ n: number }>) => rows[0]?.n === 2,
    { what: 'both early decisions to be kept' },
  );
  // They were stored by one statement at one time. Where each row lands is the free-space map's
  // choice: put the first after the second, as it may be.
  await harness.db.query(
    `WITH moved AS (DELETE FROM approval_decisions WHERE decision_id = $1 RETURNING *) INSERT INTO approval_decisions SELECT * FROM moved`,
    [approval.decisionId],
  );
  await harness.publishRequest(request);
  const events = await harness.waitForEvents(request.requestId, 3);
  expect(events.map((e) => [e.type, e.refusalCode])).toEqual([
    ['OPENED', null],
    ['APPROVED', null],
    ['DECISION_REFUSED', 'REQUEST_CLOSED'],
  ]);
  expect(events[1]!.decision?.decisionId).toBe(approval.decisionId);
});

test('when garbage and a wrong-schema message arrive, then both are dead-lettered with reasons and the next request is processed', async () => {
  const topic = harness.config.topics.requests.LOCK_CARD;
  const garbageKey = `garbage-${Date.now()}`;
  await harness.publishRaw(topic, garbageKey, Buffer.from('definitely not avro'));
  const wrongKey = `wrong-${Date.now()}`;
  const request = aRequest('LOCK_CARD');
  const decisionBytes = await harness.encodeWith(`${harness.config.topics.decisions}-value`, 'approval-decision', aDecision(request, 'APPROVED'));
  await harness.publishRaw(topic, wrongKey, decisionBytes);
  await harness.publishRequest(request);

  const garbage = await harness.waitForDeadLetter((d) => d.key === garbageKey);
  expect(garbage.headers).toMatchObject({ 'dlq.reason': 'UNDECODABLE', 'dlq.source.topic': topic });
  expect(garbage.value!.toString()).toBe('definitely not avro');
  expect(garbage.headers['dlq.source.offset']).toMatch(/^\d+$/);
  const wrong = await harness.waitForDeadLetter((d) => d.key === wrongKey);
  expect(wrong.headers['dlq.reason']).toBe('WRONG_SCHEMA');
  expect(Buffer.compare(wrong.value!, decisionBytes)).toBe(0);
  await harness.waitForEvents(request.requestId, 1);
});

test('when a value is empty or names a schema id the registry does not know, then it is dead-lettered as EMPTY_VALUE / UNKNOWN_SCHEMA', async () => {
  const topic = harness.config.topics.decisions;
  const emptyKey = `empty-${Date.now()}`;
  await harness.publishRaw(topic, emptyKey, null);
  const unknownKey = `unknown-schema-${Date.now()}`;
  const unknownSchema = Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0, 2, 0x41]);
  await harness.publishRaw(topic, unknownKey, unknownSchema);
  expect((await harness.waitForDeadLetter((d) => d.key === emptyKey)).headers['dlq.reason']).toBe('EMPTY_VALUE');
  const unknown = await harness.waitForDeadLetter((d) => d.key === unknownKey);
  expect(unknown.headers['dlq.reason']).toBe('UNKNOWN_SCHEMA');
  expect(Buffer.compare(unknown.value!, unknownSchema)).toBe(0);
});

test('when a request is invalid, then it is dead-lettered as INVALID_CONTENT with the problem named', async () => {
  const request = aRequest('LOCK_CARD', { cards: [] });
  const dead = await harness.deadLetterOf(request);
  expect(dead.headers['dlq.reason']).toBe('INVALID_CONTENT');
  expect(dead.headers['dlq.detail']).toContain('LOCK_CARD needs exactly one card, got 0');
  expect(await harness.record(request.requestId)).toBeUndefined();
});

// Names are single-line (a CR or LF in one is refused as INVALID_CONTENT); free text keeps its line breaks.
test('when names carry HTML and descriptions and reasons carry HTML and CRLF, then emails show them as inert text and gain no headers', async () => {
  const requester = { ...aPerson('requester'), name: 'Eve <script>alert(1)</script>' };
  const request = aRequest('LOCK_CARD', { requester, description: '<img src=x onerror=alert(1)> lock it\r\nBcc: victim@example.com' });
  await harness.publishRequest(request, aDecision(request, 'REJECTED', { reason: '<b>no</b>\r\nX-Injected: yes' }));

  const [toApprover] = await waitForEmails(request.approvers[0]!.email, 1);
  expect(toApprover!.html).not.toContain('<script>');
  expect(toApprover!.html).toContain('&lt;script&gt;');
  expect(toApprover!.html).not.toContain('<img');
  expect(toApprover!.subject).not.toMatch(/[\r\n]/);
  expect(toApprover!.headers.bcc).toBeUndefined();
  const [toRequester] = await waitForEmails(request.requester.email, 1);
  expect(toRequester!.html).toContain('&lt;b&gt;no&lt;/b&gt;');
  expect(toRequester!.headers['x-injected']).toBeUndefined();
  expect(messageIdOf(toRequester!)).toMatch(/^<[0-9a-f-]+@card-approvals\.local>$/);
});
