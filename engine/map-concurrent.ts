/**
 * Runs `work` over items with at most `limit` in flight, results in item order. Searches use it with
 * limit = the context's sequence count, so each search in flight keeps a sequence (and its KV prefix).
 * After a failure (a cancelled activity's heartbeat throws) no new item starts; the first error is thrown
 * once the items in flight have settled.
 */
export async function mapConcurrent<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const outcomes = await Promise.allSettled(
    Array.from({ length: Math.min(Math.max(1, limit), items.length) }, async () => {
      for (let index = next++; index < items.length && !failed; index = next++) {
        try {
          results[index] = await work(items[index] as T, index);
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    }),
  );
  const rejected = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (rejected !== undefined) throw rejected.reason;
  return results;
}
