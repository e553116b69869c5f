/** How long a store call is retried while the database is busy. */
export const BUSY_RETRY_MS = 5_000;

/**
 * Whether `err` is a transient "the database is busy" failure: SQLite's lock held by another process
 * on the same file (Deno KV throws `TypeError: database is locked`). The call did not take effect.
 */
export function isBusy(err: unknown): boolean {
  return err instanceof Error && /database is (locked|busy)|SQLITE_BUSY/i.test(err.message);
}

/**
 * Runs `op`, again while it fails because the database is busy, with a jittered backoff (2 ms
 * doubling to 100 ms) for at most `limitMs`; then, or on any other error, throws the error.
 */
export async function retryBusy<T>(op: () => Promise<T>, limitMs = BUSY_RETRY_MS): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (let wait = 2;; wait = Math.min(2 * wait, 100)) {
    try {
      return await op();
    } catch (err) {
      if (!isBusy(err) || Date.now() + wait > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, wait * (0.5 + Math.random())));
    }
  }
}
