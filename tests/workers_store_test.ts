// The StateStore contract (tests/helpers/store_contract.ts) and the Durable Object store's own
// checks (tests/workers/durable_object_checks.ts), run inside a real workerd (`wrangler dev`,
// offline, SQLite-backed Durable Objects) by the test Worker tests/workers/contract_worker.ts:
// one step per check. Skipped, saying so, where wrangler is not installed.
import assert from "node:assert/strict";
import { startWrangler, wranglerMissing } from "./helpers/wrangler.ts";

if (wranglerMissing) console.warn(`workers_store_test skipped: ${wranglerMissing}`);

/**
 * Runs check `i` in the test Worker. The 110 MB blob check takes the Worker's isolate past 128 MB
 * (three copies of the blob), and workerd replaces such an isolate: a request that arrives while
 * it does is answered "restarted mid-request" (503) before the check starts, and is run again.
 */
async function runCheck(
  base: string,
  i: number,
): Promise<{ ok: boolean; error?: string; restarted?: boolean }> {
  const res = await fetch(`${base}/checks/${i}`, { method: "POST" });
  const text = await res.text();
  if (res.ok) return JSON.parse(text);
  return { ok: false, error: `${res.status}: ${text}`, restarted: /restarted mid-request/.test(text) };
}

Deno.test({
  name: "durable object store on workerd keeps every StateStore promise",
  ignore: wranglerMissing !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const persist = await Deno.makeTempDir();
    const dev = await startWrangler({ persist, config: "tests/workers/wrangler.toml", ready: "/checks" });
    try {
      const names: string[] = await (await fetch(`${dev.base}/checks`)).json();
      assert.ok(names.length > 10);
      for (const [i, name] of names.entries()) {
        await t.step(name, async () => {
          let result = await runCheck(dev.base, i);
          if (result.restarted) {
            console.warn(`"${name}" met a restarting isolate (${result.error}); running it again`);
            result = await runCheck(dev.base, i);
          }
          assert.ok(result.ok, result.error);
        });
      }
    } finally {
      await dev.stop();
      await Deno.remove(persist, { recursive: true });
    }
  },
});
