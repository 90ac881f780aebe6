// A defect of ours is not the message's fault: the message it failed on is dead-lettered
// WORKER_DEFECT (never REJECTED_BY_STORE), logged at error level with its stack and counted, the
// partition moves on, and once the fix is in place the operators' replay applies it.
import fs from 'node:fs';
import { pollUntil } from '../../src/libraries/retry';
import { aDecision, aRequest } from '../support/builders';
import { runCli } from '../support/cli';
import { startHarness, type Harness } from '../support/test-worker';

let harness: Harness;
beforeAll(async () => (harness = await startHarness()));
afterAll(() => harness?.stop());

const metric = async (base: string, line: string): Promise<number> => {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(text.split('\n').find((l) => l.startsWith(`${line} `))?.split(' ')[1] ?? 0);
};

test('when a defect of ours fails on a decision, then it is dead-lettered WORKER_DEFECT with an error-level log line and a count, the partition moves on, and after the fix a replay applies it', async () => {
  const worker = await harness.startWorker();
  const base = `http://127.0.0.1:${worker.httpPort}`;
  const [broken, other] = [aRequest('LOCK_CARD'), aRequest('LOCK_CARD')];
  await harness.publishRequest(broken);
  await harness.publishRequest(other);
  await harness.waitForEvents(broken.requestId, 1);
  await harness.waitForEvents(other.requestId, 1);

  // A record stored in a shape this code does not read (a stage without its rule and approvers,
  // as a faulty version might write): deciding on it throws a TypeError inside the batch use case.
  const stages: Array<{ stages: unknown }> = await harness.db.query('SELECT stages FROM approval_requests WHERE request_id = $1', [broken.requestId]);
  await harness.db.query(`UPDATE approval_requests SET stages = '[{"name": "approval"}]' WHERE request_id = $1`, [broken.requestId]);

  // Both decisions in one batch of one partition: the one on the broken record first.
  const decisions = [aDecision(broken, 'APPROVED'), aDecision(other, 'APPROVED')];
  const topic = harness.config.topics.decisions;
  const values = await Promise.all(decisions.map((d) => harness.encodeWith(`${topic}-value`, 'approval-decision', d)));
  await harness.publishRawBatch(topic, decisions.map((d, i) => ({ key: d.requestId, value: values[i]!, partition: 0 })));

  const dead = await harness.waitForDeadLetter((d) => d.key === broken.requestId);
  expect(dead.headers['dlq.reason']).toBe('WORKER_DEFECT');
  expect(dead.headers['dlq.detail']).toMatch(/^TypeError: Cannot read properties of undefined/);
  // The partition moved on: the decision behind it was applied.
  const [, approved] = await harness.waitForEvents(other.requestId, 2);
  expect(approved!.type).toBe('APPROVED');
  expect(await harness.record(broken.requestId)).toMatchObject({ status: 'PENDING' });

  // Observability: one error-level line with the stack of what was thrown, and the counts.
  const line = await pollUntil(
    async () => fs.readFileSync(harness.logFile, 'utf8').split('\n').find((l) => l.includes('"msg":"worker defect') && l.includes(decisions[0]!.decisionId)),
    (found) => found !== undefined,
    { what: 'the defect logged' },
  );
  const logged = JSON.parse(line!) as { level: number; code: string; err: { stack: string } };
  expect(logged).toMatchObject({ level: 50, code: 'WORKER_DEFECT' });
  expect(logged.err.stack).toMatch(/caused by: TypeError: Cannot read properties of undefined[\s\S]*approval-votes/);
  expect(await metric(base, 'cardapproval_worker_defects_total{component="consumer"}')).toBe(1);
  expect(await metric(base, 'cardapproval_dead_letters_total{reason="WORKER_DEFECT"}')).toBe(1);
  expect(await metric(base, 'cardapproval_dead_letters_total{reason="REJECTED_BY_STORE"}')).toBe(0);

  // The fix (here the record's repair), then the replay operators run: the decision is applied.
  await harness.db.query('UPDATE approval_requests SET stages = $2 WHERE request_id = $1', [broken.requestId, JSON.stringify(stages[0]!.stages)]);
  const replayed = await runCli(harness.env, 'dead-letters', 'replay', '--reason', 'WORKER_DEFECT');
  expect(replayed.stdout).toMatch(/replayed \d+:\d+ \(WORKER_DEFECT\)/);
  const [, decided] = await harness.waitForEvents(broken.requestId, 2);
  expect(decided).toMatchObject({ type: 'APPROVED', decision: { decisionId: decisions[0]!.decisionId } });
  expect(await harness.record(broken.requestId)).toMatchObject({ status: 'APPROVED' });
}, 90_000);
