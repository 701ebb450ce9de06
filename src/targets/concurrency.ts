/** Runs task(1..count) with at most `limit` in flight; rejects on the first failure. */
export async function forEachBounded(
  count: number,
  limit: number,
  task: (n: number) => Promise<void>,
): Promise<void> {
  let next = 1;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next <= count) {
      const n = next++;
      try {
        await task(n);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}
