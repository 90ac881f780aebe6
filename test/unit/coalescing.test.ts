import { coalescing } from '../../src/libraries/coalescing';

test('items arriving while a flush runs go together into the next flush, the newest per key', async () => {
  const flushes: number[][] = [];
  let release: () => void = () => undefined;
  const push = coalescing<number>(async (items) => {
    flushes.push(items);
    if (flushes.length === 1) await new Promise<void>((r) => (release = r));
  });
  const first = push('a', 1);
  void push('b', 2);
  void push('a', 3); // 1 is already being flushed, so 3 waits beside 2
  release();
  await first;
  expect(flushes).toEqual([[1], [2, 3]]);
});

test('once a flush has settled, the next item starts a new one', async () => {
  const flushes: string[][] = [];
  const push = coalescing<string>(async (items) => void flushes.push(items));
  await push('x', 'one');
  await push('x', 'two');
  expect(flushes).toEqual([['one'], ['two']]);
});
