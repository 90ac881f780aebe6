// Generated hostile requests through the real broker to a real worker: every message gets exactly
// one outcome, every email it causes is delivered or parked, and each partition moves on. The
// longer form: `npm run chaos -- --only hostile --hostile 3000`.
import { formatHostileRun, hostileRun } from '../support/hostile-requests';
import { startHarness, type Harness } from '../support/test-worker';

const INPUTS = 150;
const PARTITIONS = 2;
let harness: Harness;
let base: string;

beforeAll(async () => {
  harness = await startHarness({ TOPIC_PARTITIONS: String(PARTITIONS) });
  base = `http://127.0.0.1:${(await harness.startWorker()).httpPort}`;
});

afterAll(async () => {
  await harness?.stop();
});

test(`when ${INPUTS} generated hostile requests arrive, then each gets one outcome, each email is sent or parked, and every partition moves on`, async () => {
  const result = await hostileRun(harness, INPUTS, PARTITIONS);
  process.stdout.write(`\n[hostile generator] ${formatHostileRun(result)}\n`);
  expect(result.wrong).toEqual([]);
  expect(result.settled).toBe(true);
  expect(result.distinct).toBe(INPUTS);
  expect((await fetch(`${base}/health/consumer`)).status).toBe(200);
}, 180_000);
