/**
 * Runs `work` over items with at most `limit` in flight, results in item order. Searches use it with
 * limit = the context's sequence count, so each search in flight keeps a sequence (and its KV prefix).
 */
export async function mapConcurrent<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(Math.max(1, limit), items.length) }, async () => {
      for (let index = next++; index < items.length; index = next++) results[index] = await work(items[index] as T, index);
    }),
  );
  return results;
}
