// Every email kind rendered from a fully populated event: no labelled field may come out empty
// when the data has it (the "Requested at" that every approver email once showed blank).
import { EMAIL_TEMPLATES, type ApprovalEvent } from '../../src/domain/approval';
import { EmailRenderer } from '../../src/adapters/email/render-email';
import { aCard, aPerson, aRequest } from '../support/builders';

const request = aRequest('REQUEST_MULTIPLE_CARDS', { description: 'Badges for the new project team', dueAt: Date.UTC(2026, 11, 24, 17), requestedAt: Date.UTC(2026, 10, 30, 9, 15) });
request.cards = request.cards.map((c, i) => aCard(aPerson('holder'), { ...c, cardId: `card-${i}`, status: 'ACTIVE', validTo: Date.UTC(2028, 0, 31) }));
const approver = request.approvers[0]!;

/** An event with every field the templates can read set to a value. */
const FULL: ApprovalEvent = {
  eventId: 'event-1',
  type: 'PARTIALLY_APPROVED',
  requestId: request.requestId,
  operation: request.operation,
  status: 'PARTIALLY_APPROVED',
  occurredAt: Date.UTC(2026, 10, 30, 10),
  requester: request.requester,
  cards: request.cards,
  description: request.description,
  approvers: request.approvers,
  requestedAt: request.requestedAt,
  dueAt: request.dueAt,
  decision: {
    decisionId: 'decision-1',
    decision: 'APPROVED',
    approver,
    reason: 'Budget approved for two of them',
    decidedAt: Date.UTC(2026, 10, 30, 9, 59),
    actingAs: 'APPROVER',
    onBehalfOf: request.approvers[1]!,
    reassign: null,
  },
  refusalCode: null,
  message: 'Reminder 2: still waiting for a decision.',
  progress: { stage: 1, stages: 2, stageName: 'line manager', approvals: 1, required: 1 },
  cardResults: request.cards.map((_, cardIndex) => ({ cardIndex, outcome: cardIndex === 2 ? 'REJECTED' : 'APPROVED', reason: cardIndex === 2 ? 'Already holds one' : null })),
};

/** Labels with nothing after them: "Requested at:" at a line's end, an empty table cell, "by  on". */
function emptyFields(part: 'text' | 'html', rendered: string): string[] {
  const found: string[] = [];
  if (part === 'text') {
    for (const line of rendered.split('\n')) if (/^\s*[A-Za-z][A-Za-z ]{1,40}:\s*$/.test(line)) found.push(line.trim());
  } else {
    for (const match of rendered.matchAll(/<th[^>]*>([^<]*)<\/th>\s*<td>\s*<\/td>/g)) found.push(`${match[1]} (empty cell)`);
    for (const match of rendered.matchAll(/<td>\s*<\/td>/g)) found.push(match[0]);
  }
  for (const match of rendered.matchAll(/\b(by|on|to|for)\s+(on|by|\.|,)/g)) found.push(`"${match[0]}"`);
  return found;
}

const renderer = new EmailRenderer('https://approvals.example.com/approvals');

test.each(EMAIL_TEMPLATES)('the %s email, rendered from a fully populated event, leaves no labelled field empty', (template) => {
  const email = renderer.render(template, FULL, approver);
  expect({ template, subject: email.subject.includes(request.requestId), text: emptyFields('text', email.text), html: emptyFields('html', email.html) }).toEqual({ template, subject: true, text: [], html: [] });
  expect(email.text).toContain('2026-11-30 09:15 UTC'); // requested at
});

test('the check finds a field that renders empty (requestedAt missing from the event)', () => {
  const email = renderer.render('approval-requested', { ...FULL, requestedAt: null }, approver);
  expect(emptyFields('text', email.text)).toEqual(['Requested at:']);
});
