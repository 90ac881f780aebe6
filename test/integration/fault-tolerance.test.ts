// The short form of the fault-injection suite (the long form is `npm run chaos`): worker processes
// killed, added and removed mid-stream, and a database slower than the session timeout. Only
// faults that leave the shared services alone run here, beside the other tests.
import { formatTable } from '../chaos/chaos-run';
import { killNine, rebalance, slowConsumer } from '../chaos/scenarios';

const options = { requests: 60, streamMs: 6000 };

const expectNothingLostOrDuplicated = (row: Awaited<ReturnType<typeof killNine>>): void => {
  process.stdout.write(`${formatTable([row])}\n`);
  expect(row.problems).toEqual([]);
  expect(row).toMatchObject({ records: options.requests, lost: 0, duplicatedEffects: 0, orderViolations: 0, deadLetters: 0, refusals: 0 });
};

test('when the worker is killed with SIGKILL twice mid-stream and restarted, then nothing is lost or duplicated', async () => {
  expectNothingLostOrDuplicated(await killNine(options, 2));
}, 240_000);

test('when workers join, leave with SIGTERM and die with SIGKILL mid-stream, then nothing is lost or duplicated', async () => {
  expectNothingLostOrDuplicated(await rebalance(options));
}, 240_000);

test('when a transaction is held up past the session timeout, then the group does not rebalance and nothing is duplicated', async () => {
  const row = await slowConsumer(options);
  expectNothingLostOrDuplicated(row);
  expect(row.rebalances).toBe(1);
}, 240_000);
