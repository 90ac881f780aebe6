// The loop every relay and timed job runs on: a backlog is drained round after round with no wait
// between them, and only a round that finds nothing waits, for the poll or for a kick. A ROLE=relays
// process is never kicked (the batches that write its emails commit in other processes), so its
// drain rests on the first of these alone.
import { createLogger } from '../../src/libraries/logger';
import { startRelayLoop } from '../../src/entry-points/relays/relay-loop';

const logger = createLogger('silent');
/** Far longer than any test waits: a round that waited for it would time the test out. */
const POLL_MS = 60_000;

/** A drain that finds `backlog` rows, `batch` at a time, and records when each round ran. */
function backlogOf(backlog: number, batch: number) {
  let left = backlog;
  const rounds: number[] = [];
  let roundRan: () => void = () => undefined;
  return {
    rounds,
    left: () => left,
    add(n: number) {
      left += n;
    },
    nextRound: () => new Promise<void>((resolve) => (roundRan = resolve)),
    async drainOnce(): Promise<number> {
      rounds.push(Date.now());
      const taken = Math.min(batch, left);
      left -= taken;
      await new Promise((resolve) => setImmediate(resolve));
      roundRan();
      return taken;
    },
  };
}

const until = async (what: string, done: () => boolean, timeoutMs = 5000): Promise<void> => {
  const end = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > end) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

test('while rounds find work, the loop goes straight on to the next: a backlog of many batches drains without waiting for the poll', async () => {
  const work = backlogOf(1000, 50);
  const started = Date.now();
  const loop = startRelayLoop('emails', work.drainOnce, logger, { pollMs: POLL_MS });
  try {
    await until('the backlog drained', () => work.left() === 0 && work.rounds.length >= 21);
    // 20 full rounds, then the one that found nothing and now waits.
    expect(work.rounds).toHaveLength(21);
    expect(Date.now() - started).toBeLessThan(POLL_MS / 10);
  } finally {
    await loop.stop();
  }
});

test('a round that finds nothing waits for the poll, or for a kick, which ends the wait at once', async () => {
  const work = backlogOf(0, 50);
  const loop = startRelayLoop('emails', work.drainOnce, logger, { pollMs: POLL_MS });
  try {
    await until('the first round', () => work.rounds.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(work.rounds).toHaveLength(1);
    work.add(120);
    const next = work.nextRound();
    loop.kick();
    await next;
    // Kicked: it drains all three batches, then waits again.
    await until('the kicked backlog drained', () => work.left() === 0 && work.rounds.length === 5);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(work.rounds).toHaveLength(5);
  } finally {
    await loop.stop();
  }
});

test('a kick while a round runs that finds nothing makes another round follow at once: rows committed meanwhile do not wait for the poll', async () => {
  let kickDuringRound: (() => void) | undefined;
  let left = 0;
  const rounds: number[] = [];
  const drainOnce = async (): Promise<number> => {
    await new Promise((resolve) => setImmediate(resolve));
    rounds.push(Date.now());
    const taken = left;
    left = 0;
    // A batch commits (and kicks) while this round's claim was already under way.
    if (rounds.length === 1) {
      left = 10;
      kickDuringRound?.();
    }
    return taken;
  };
  const loop = startRelayLoop('emails', drainOnce, logger, { pollMs: POLL_MS });
  kickDuringRound = () => loop.kick();
  try {
    await until('the kicked round', () => rounds.length >= 3);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect({ rounds: rounds.length, left }).toEqual({ rounds: 3, left: 0 });
  } finally {
    await loop.stop();
  }
});

test('a stop ends the wait for the poll at once', async () => {
  const work = backlogOf(0, 50);
  const loop = startRelayLoop('emails', work.drainOnce, logger, { pollMs: POLL_MS });
  await until('the first round', () => work.rounds.length === 1);
  const began = Date.now();
  await loop.stop();
  expect(Date.now() - began).toBeLessThan(1000);
});

test('while told to rest, a round that handled work is followed by the rest, which kicks do not cut short; told no more, it goes straight on', async () => {
  const work = backlogOf(500, 50);
  let restMs = 200;
  const loop = startRelayLoop('emails', work.drainOnce, logger, { pollMs: POLL_MS, restMs: () => restMs });
  try {
    await until('three rounds', () => work.rounds.length >= 3);
    // Kicked while it rests after the third round: the fourth still waits out the rest.
    for (let i = 0; i < 20; i++) loop.kick();
    await until('a fourth round', () => work.rounds.length >= 4);
    const gaps = work.rounds.slice(1, 4).map((at, i) => at - work.rounds[i]!);
    expect(gaps.every((gap) => gap >= 190)).toBe(true);
    restMs = 0;
    await until('the rest of the backlog drained', () => work.left() === 0, 1000);
  } finally {
    await loop.stop();
  }
});

test('a stop ends a rest at once', async () => {
  const work = backlogOf(500, 50);
  const loop = startRelayLoop('emails', work.drainOnce, logger, { pollMs: POLL_MS, restMs: () => POLL_MS });
  await until('the first round', () => work.rounds.length === 1);
  const began = Date.now();
  await loop.stop();
  expect({ rounds: work.rounds.length, stoppedInMs: Date.now() - began < 1000 }).toEqual({ rounds: 1, stoppedInMs: true });
});
