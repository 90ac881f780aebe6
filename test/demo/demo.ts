// `npm start`: brings up the local stack (reusing what already runs), starts the worker and plays
// the whole flow once: one request per operation, approvals (LOCK_CARD needs both approvers, the
// multi-card request is decided per card), a rejection, a postponement and a refused self-approval. Prints the events as downstream systems see them and where the emails
// are. The worker keeps running afterwards until Ctrl-C (or exits with --exit).
import { randomUUID } from 'node:crypto';
import { decisionPublisher } from '../../src/adapters/kafka/decision-publisher';
import { createKafka, createProducer, createWatcher } from '../../src/adapters/kafka/kafka-client';
import { pollUntil } from '../../src/libraries/retry';
import { aCard, aDecision, aPerson, aRequest } from '../support/builders';
import { AvroCodec } from '../../src/adapters/schema-registry/avro-codec';
import { describeFailure, stackUp } from '../stack/local-stack';
import type { ApprovalEvent } from '../../src/domain/approval';
import { OPERATIONS, type ApprovalDecision, type Card, type CardOperationRequest, type Operation, type Person } from '../../src/domain/card-operation';
import { loadStackConfig } from '../stack/stack-config';
import { createLogger } from '../../src/libraries/logger';
import { startWorker } from '../../src/worker';

const person = (id: string, name: string): Person => aPerson('person', { id, name, locale: 'en' });
const requester = person('rita.requester', 'Rita Requester');
const approvers = [person('alice.approver', 'Alice Approver'), person('bob.approver', 'Bob Approver')];

function demoRequest(run: string, operation: Operation): CardOperationRequest {
  const card = (n: number): Card =>
    aCard(person(`holder.${n}`, `Holder Number ${n}`), {
      // Each operation its own card: two pending approvals for one card would conflict (CARD_BUSY).
      cardId: operation === 'REQUEST_CARD' || operation === 'REQUEST_MULTIPLE_CARDS' ? null : `card-${run}-${OPERATIONS.indexOf(operation)}${n}`,
      serialNumber: `SN-${run}-${OPERATIONS.indexOf(operation)}${n}`,
      status: operation === 'REACTIVATE_CARD' ? 'LOCKED' : 'ACTIVE',
      validTo: Date.UTC(2028, 11, 31),
    });
  return aRequest(operation, {
    requestId: `demo-${run}-${operation.toLowerCase().replace(/_/g, '-')}`,
    requester,
    cards: operation === 'REQUEST_MULTIPLE_CARDS' ? [card(1), card(2), card(3)] : [card(1)],
    description: `Demo: ${operation.toLowerCase().replace(/_/g, ' ')} for the new project team`,
    approvers,
    attributes: { source: 'demo' },
  });
}

async function main(): Promise<void> {
  const exitWhenDone = process.argv.includes('--exit');
  // Unless configured otherwise, the demo's timers run in seconds, so the ladder shows: the
  // postponed REACTIVATE_CARD is reminded after 5 s and expires after 15 s. LOCK_CARD needs ALL its approvers.
  const config = loadStackConfig({
    APPROVAL_TIMERS: JSON.stringify({ REACTIVATE_CARD: { remindAfter: '5s', expireAfter: '15s' } }),
    APPROVAL_POLICY: JSON.stringify({ LOCK_CARD: { rule: 'ALL' } }),
    ...process.env,
  });
  console.log('Bringing up the local stack (Kafka, schema registry, SMTP inbox, Postgres database)...');
  const stack = await stackUp(config);
  console.log(`  ready in ${stack.seconds.toFixed(1)}s; started: ${stack.started.join(', ') || 'nothing'}; reused: ${stack.reused.join(', ') || 'nothing'}`);

  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  const worker = await startWorker(config, logger);
  console.log(`Worker started, on Node ${process.version}.\n`);

  const run = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14) + '-' + randomUUID().slice(0, 4);
  const codec = new AvroCodec(config.schemaRegistryUrl);
  const kafka = createKafka(config.kafka, logger, 'demo');
  const producer = createProducer(kafka);
  await producer.connect();
  const requestIds = new Set<string>();
  const requests = new Map(OPERATIONS.map((op) => [op, demoRequest(run, op)]));
  // One OPENED per request, one event per decision below, LOCK_CARD's APPROVED after its two votes, a reminder and an expiry.
  const expectedEvents = requests.size + 7 + 1 + 2;

  const events: ApprovalEvent[] = [];
  const observer = createWatcher(kafka, `demo-observer-${run}`);
  await observer.connect();
  await observer.subscribe({ topic: config.topics.events, fromBeginning: true });
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  await observer.run({
    eachMessage: async ({ message }) => {
      // Only this run's events matter.
      if (!requestIds.has(message.key?.toString() ?? '')) return;
      const event = await codec.decode<ApprovalEvent>(message.value, 'approval-event');
      events.push(event);
      const who = event.decision ? ` by ${event.decision.approver.name}` : '';
      const progress = event.type === 'VOTED' && event.progress ? ` (${event.progress.approvals} of ${event.progress.required})` : '';
      const cards = event.cardResults.length > 0 ? ` cards: ${event.cardResults.map((c) => `${c.cardIndex + 1} ${c.outcome}`).join(', ')}` : '';
      const why = event.refusalCode ? ` refused: ${event.refusalCode} (${event.message})` : event.decision?.reason ? ` reason: ${event.decision.reason}` : '';
      console.log(`  event ${event.type.padEnd(16)} ${event.requestId.padEnd(48)} status=${String(event.status).padEnd(8)}${who}${progress}${why}${cards}`);
      if (events.length >= expectedEvents) resolveDone();
    },
  });

  console.log('Publishing one request per operation...');
  for (const request of requests.values()) {
    requestIds.add(request.requestId);
    const topic = config.topics.requests[request.operation];
    const schemaId = await codec.register(`${topic}-value`, 'card-operation-request');
    await producer.send({ topic, messages: [{ key: request.requestId, value: await codec.encode(schemaId, request) }] });
  }
  const decide = (op: Operation, decision: ApprovalDecision['decision'], approver: Person, reason: string | null = null): ApprovalDecision =>
    aDecision(requests.get(op)!, decision, { decisionId: `${requests.get(op)!.requestId}-${decision.toLowerCase()}-${approver.id}`, approver, reason });
  const decisions = [
    decide('REQUEST_CARD', 'APPROVED', approvers[0]!),
    decide('LOCK_CARD', 'APPROVED', approvers[1]!),
    decide('LOCK_CARD', 'APPROVED', approvers[0]!),
    { ...decide('REQUEST_MULTIPLE_CARDS', 'APPROVED', approvers[0]!), cardOutcomes: [{ cardIndex: 2, outcome: 'REJECTED' as const, reason: 'One parking card per person' }] },
    decide('DEACTIVATE_CARD', 'REJECTED', approvers[1]!, 'The card holder still needs access until the end of the month'),
    decide('REACTIVATE_CARD', 'POSTPONED', approvers[0]!),
    decide('REACTIVATE_CARD', 'APPROVED', requester), // four-eyes: the requester cannot approve
  ];
  console.log('Publishing decisions: 2 approvals of LOCK_CARD (ALL), 1 approval, 1 per-card decision, 1 rejection with reason, 1 postponement, 1 self-approval...\n');
  await decisionPublisher({ codec, producer, topic: config.topics.decisions })(...decisions);

  const timeout = setTimeout(resolveDone, 60_000);
  await done;
  clearTimeout(timeout);
  await observer.disconnect();
  await producer.disconnect();

  // Give the email relay a moment to deliver, then count what arrived.
  const inbox = async (): Promise<Array<{ to: Array<{ address: string }>; subject: string }>> =>
    ((await (await fetch(`${config.inboxUrl}/api/email`)).json()) as Array<{ to: Array<{ address: string }>; subject: string }>).filter((m) =>
      [...requestIds].some((id) => m.subject.includes(id)),
    );
  const expectedEmails = requests.size * approvers.length + 4 + approvers.length + 1; // … + reminders + the expiry
  const emails = await pollUntil(inbox, (found) => found.length >= expectedEmails, { timeoutMs: 30_000, intervalMs: 250, what: 'the demo emails' }).catch(() => inbox());
  console.log(`\n${events.length} events on ${config.topics.events}; ${emails.length} emails delivered:`);
  for (const email of emails) console.log(`  to ${email.to.map((t) => t.address).join(', ').padEnd(28)} ${email.subject}`);
  console.log(`\nRead the emails at ${config.inboxUrl} (MailDev). REACTIVATE_CARD was postponed, and the requester may not approve it: nobody decided, so its approvers were reminded, and it expired.`);

  if (exitWhenDone) {
    await worker.stop();
    process.exit(0);
  }
  console.log('The worker keeps running; press Ctrl-C to stop it.');
  const stop = (): void => void worker.stop().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${describeFailure(error)}`);
  process.exit(1);
});
