// Schema-valid card-operation requests with hostile content, generated (fast-check): control and
// invalid characters, extreme numbers and dates, empty and oversize strings, card counts at and
// past the limit, and unusual Unicode (combining marks, right-to-left, astral planes). Most start
// from a valid request and spoil one or two fields, so that records, emails and dead letters all
// occur. Used by the generator test in `npm test` and its longer form in `npm run chaos`.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { AvroCodec } from '../../src/adapters/schema-registry/avro-codec';
import { pollUntil } from '../../src/libraries/retry';
import type { Harness } from './test-worker';
import { OPERATIONS, type Card, type CardOperationRequest, type Operation, type Person } from '../../src/domain/card-operation';
import { aCard, aPerson, aRequest } from './builders';

const MS_MAX = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Strings an upstream system could send by mistake or malice. */
const hostileString = (maxLength: number): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }), // any code point, controls and astral planes included
    fc.string({ unit: 'grapheme-composite', maxLength: 40 }), // combining marks
    fc.constantFrom('', ' ', '\u0000', 'a\u0000b', '\u202eevil\u202c', 'שלום עולם', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', 'e\u0301\u0301\u0301', '\ud800', 'line\u2028break', '\r\nBcc: x@y.z', '<script>x</script>'),
    fc.constant('x'.repeat(maxLength)),
    fc.constant('x'.repeat(maxLength + 1)),
  );

const hostileTimestamp: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 0, max: MS_MAX }),
  fc.constantFrom(0, -1, MS_MAX, MS_MAX + 1, Date.now() * 1000, 8.64e15, 9e15, 2 ** 52, -(2 ** 52)), // the largest an Avro long in avsc takes
);

type Spoil = (r: CardOperationRequest, value: unknown) => CardOperationRequest;
const person = (p: Person, s: string, field: keyof Person): Person => ({ ...p, [field]: s });

/** One field spoiled, with the value that spoils it. */
const spoilers: Array<[fc.Arbitrary<unknown>, Spoil]> = [
  [hostileString(200), (r, s) => ({ ...r, requestId: `${r.requestId}${s as string}` })],
  [hostileString(200), (r, s) => ({ ...r, requester: person(r.requester, s as string, 'name') })],
  [hostileString(254), (r, s) => ({ ...r, requester: person(r.requester, s as string, 'email') })],
  [hostileString(200), (r, s) => ({ ...r, requester: person(r.requester, s as string, 'id') })],
  [hostileString(4000), (r, s) => ({ ...r, description: s as string })],
  [hostileString(200), (r, s) => ({ ...r, cards: r.cards.map((c) => ({ ...c, cardType: s as string })) })],
  [hostileString(200), (r, s) => ({ ...r, cards: r.cards.map((c) => ({ ...c, holder: person(c.holder, s as string, 'name') })) })],
  [hostileString(200), (r, s) => ({ ...r, approvers: r.approvers.map((a, i) => (i === 0 ? person(a, s as string, 'name') : a)) })],
  [hostileString(200), (r, s) => ({ ...r, attributes: { [s as string]: 'v' } })],
  [hostileString(200), (r, s) => ({ ...r, attributes: { k: s as string } })],
  [hostileTimestamp, (r, t) => ({ ...r, requestedAt: t as number })],
  [hostileTimestamp, (r, t) => ({ ...r, cards: r.cards.map((c) => ({ ...c, validTo: t as number })) })],
  [fc.integer({ min: 0, max: 25 }), (r, n) => ({ ...r, cards: Array.from({ length: n as number }, (): Card => aCard()) })],
  [fc.integer({ min: 0, max: 3 }), (r, n) => ({ ...r, approvers: [r.requester, r.cards[0]?.holder ?? r.requester].slice(0, n as number) })],
  // The request's own approval rule: modes this worker does not know, quorums out of any range.
  [
    fc.record({ mode: fc.constantFrom('ANY', 'ALL', 'QUORUM', 'UNKNOWN'), quorum: fc.oneof(fc.constant(null), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 4 })) }),
    (r, rule) => ({ ...r, approvalRule: rule as CardOperationRequest['approvalRule'] }),
  ],
];

/** A valid request of `operation`, then none, one or two spoiled fields. */
export const hostileRequest = (operation: fc.Arbitrary<Operation> = fc.constantFrom(...OPERATIONS)): fc.Arbitrary<CardOperationRequest> =>
  fc
    .tuple(
      operation,
      fc.array(
        fc.oneof(...spoilers.map(([value, spoil]) => value.map((v) => (r: CardOperationRequest) => spoil(r, v)))),
        { maxLength: 2 },
      ),
    )
    .map(([op, spoils]) => spoils.reduce((r, spoil) => spoil(r), aRequest(op, { requester: aPerson('requester') })));

export interface HostileRunResult {
  seed: number;
  distinct: number;
  opened: number;
  deadLetters: Record<string, number>;
  emails: Record<string, number>;
  /** Inputs that got no outcome, or more than one. */
  wrong: Array<{ i: number; opened: boolean; deadLetters: Array<string | undefined>; requestId: string }>;
  /** Whether every email reached SENT or PARKED, and every partition's last good message was applied. */
  settled: boolean;
}

/**
 * Publishes `inputs` generated hostile requests (seeded) to a running harness worker, then one
 * good request on every partition of every request topic, and counts the outcomes.
 */
export async function hostileRun(harness: Harness, inputs: number, partitions: number, seed = Date.now() % 2 ** 31): Promise<HostileRunResult> {
  const requests = fc.sample(hostileRequest(), { numRuns: inputs, seed });
  const run = randomUUID().slice(0, 8);
  const keyOf = (i: number): string => `g-${run}-${i}`;

  // The worker sees what the Avro bytes carry (an unpaired surrogate, say, arrives as U+FFFD), so
  // outcomes are looked up by the request id decoded from the bytes sent.
  const codec = new AvroCodec(harness.config.schemaRegistryUrl);
  const seenIds: string[] = [];
  const byTopic = new Map<string, Array<{ key: string; value: Buffer; partition?: number }>>();
  for (const [i, request] of requests.entries()) {
    const topic = harness.config.topics.requests[request.operation];
    const value = await harness.encodeWith(`${topic}-value`, 'card-operation-request', request);
    seenIds.push((await codec.decode<CardOperationRequest>(value, 'card-operation-request')).requestId);
    byTopic.set(topic, [...(byTopic.get(topic) ?? []), { key: keyOf(i), value }]);
  }
  // After them, one good request on every partition of every request topic.
  const sentinels: CardOperationRequest[] = [];
  for (const operation of OPERATIONS) {
    const topic = harness.config.topics.requests[operation];
    for (let partition = 0; partition < partitions; partition += 1) {
      const good = aRequest(operation);
      sentinels.push(good);
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), { key: good.requestId, partition, value: await harness.encodeWith(`${topic}-value`, 'card-operation-request', good) }]);
    }
  }
  for (const [topic, messages] of byTopic) await harness.publishRawBatch(topic, messages);
  let settled = true;
  for (const good of sentinels) await harness.waitForEvents(good.requestId, 1, 120_000).catch(() => (settled = false));

  // Exactly one outcome each: an approval opened, or a dead letter with a reason. The dead letters
  // reach the observer on a topic of their own, so they are awaited too. (An id with a NUL cannot
  // even be looked up in Postgres, so it cannot have a record.)
  const storable = seenIds.filter((id) => !id.includes('\u0000'));
  const outcomesNow = async (): Promise<Array<{ i: number; opened: boolean; deadLetters: Array<string | undefined> }>> => {
    const rows: Array<{ request_id: string }> = await harness.db.query('SELECT request_id FROM approval_requests WHERE request_id = ANY($1)', [storable]);
    const opened = new Set(rows.map((r) => r.request_id));
    return requests.map((_, i) => ({
      i,
      opened: opened.has(seenIds[i]!),
      deadLetters: harness.deadLettersSeen().filter((d) => d.key === keyOf(i)).map((d) => d.headers['dlq.reason']),
    }));
  };
  const oneEach = (o: { opened: boolean; deadLetters: unknown[] }): boolean => Number(o.opened) + o.deadLetters.length === 1;
  const outcomes = await pollUntil(outcomesNow, (all) => all.every(oneEach), { timeoutMs: 15_000, what: 'one outcome per input' }).catch(() => outcomesNow());

  // Every email the opened ones caused is delivered or parked with its reason, none left waiting.
  const emails = await pollUntil(
    (): Promise<Array<{ status: string; n: number }>> => harness.db.query(`SELECT status, count(*)::int AS n FROM email_outbox GROUP BY status`),
    (rows) => !rows.some((r) => r.status === 'PENDING'),
    { timeoutMs: 120_000, what: 'every email sent or parked' },
  ).catch(() => ((settled = false), []));

  const deadLetters: Record<string, number> = {};
  for (const reason of outcomes.flatMap((o) => o.deadLetters)) deadLetters[reason ?? '?'] = (deadLetters[reason ?? '?'] ?? 0) + 1;
  return {
    seed,
    distinct: new Set(requests.map((r) => JSON.stringify(r))).size,
    opened: outcomes.filter((o) => o.opened).length,
    deadLetters,
    emails: Object.fromEntries(emails.map((e) => [e.status, e.n])),
    wrong: outcomes.filter((o) => !oneEach(o)).map((o) => ({ ...o, requestId: requests[o.i]!.requestId })),
    settled,
  };
}

export const formatHostileRun = (r: HostileRunResult): string =>
  `seed ${r.seed}: ${r.distinct} distinct inputs; ${r.opened} opened, dead letters ${JSON.stringify(r.deadLetters)}; ` +
  `emails ${JSON.stringify(r.emails)}; ${r.wrong.length} without exactly one outcome; ${r.settled ? 'every partition moved on' : 'NOT SETTLED'}`;
