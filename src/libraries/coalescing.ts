/**
 * Hands items to `flush` one call at a time: items that arrive while a call runs go together
 * into the next one, and a newer item replaces an older one with the same key. Used where many
 * small writes (offset commits, "email sent" marks) would otherwise each cost a round trip.
 * The promise returned settles once the item has been flushed; `flush` must handle its errors.
 */
export function coalescing<T>(flush: (items: T[]) => Promise<void>): (key: string, item: T) => Promise<void> {
  const pending = new Map<string, T>();
  let running: Promise<void> | undefined;
  return (key, item) => {
    pending.set(key, item);
    running ??= (async () => {
      while (pending.size > 0) {
        const items = [...pending.values()];
        pending.clear();
        await flush(items);
      }
    })().finally(() => (running = undefined));
    return running;
  };
}
