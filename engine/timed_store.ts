import type { StateStore } from "../store/types.ts";
import { metrics } from "./metrics.ts";

/** The store operations timed (every one but `close`). */
const OPERATIONS = [
  "get",
  "putBlob",
  "readBlob",
  "publish",
  "delete",
  "readEvents",
  "acquireLease",
  "releaseLease",
  "lease",
  "sweep",
  "usage",
] as const satisfies readonly (keyof StateStore)[];

/**
 * `store` with every operation's latency recorded in `store_operation_seconds` and every
 * failure (a rejected promise) counted in `store_errors_total`, labelled by operation.
 */
export function timedStore(store: StateStore): StateStore {
  const timed = Object.create(store) as StateStore;
  for (const op of OPERATIONS) {
    const original = store[op] as (...args: unknown[]) => Promise<unknown>;
    (timed as unknown as Record<string, unknown>)[op] = async (...args: unknown[]) => {
      const started = performance.now();
      try {
        return await original.apply(store, args);
      } catch (err) {
        metrics.storeErrors.inc({ operation: op });
        throw err;
      } finally {
        metrics.storeSeconds.observe((performance.now() - started) / 1000, { operation: op });
      }
    };
  }
  timed.close = () => store.close();
  return timed;
}
