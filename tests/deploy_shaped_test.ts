// The Deno Deploy-shaped run: main.ts with the environment Deploy sets (DENO_DEPLOYMENT_ID), no
// flags but the permissions Deploy grants (no --allow-write: its file system is read-only, and a
// write would fail the run; the unstable features come from deno.json), and Deno KV opened with no path (a --location makes
// that database this test's own). Two instances in turn on it: the first is SIGKILLed mid-stream,
// the second resumes the stream exactly.
import assert from "node:assert/strict";
import { startServer } from "./helpers/server.ts";
import { postJson, readEvents, textOf } from "./helpers/sse.ts";

/** Where Deno keeps the default KV database of an origin (what Deploy's no-path KV stands in for here). */
async function originStorage(origin: string): Promise<string> {
  const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
    .output();
  const dir = JSON.parse(new TextDecoder().decode(info.stdout)).originStorage as string;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(origin)));
  return `${dir}/${[...digest].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

Deno.test("Deploy-shaped: read-only, KV without a path, a stream cut by SIGKILL resumes on the next instance", async () => {
  const origin = `http://deploy-test-${crypto.randomUUID().slice(0, 8)}`;
  const args = ["run", "--allow-read", "--allow-env", "--allow-net", `--location=${origin}/`, "main.ts"];
  const env = { DENO_DEPLOYMENT_ID: "local-test", CHECKPOINT_EVERY: "8", LEASE_MS: "1500" };
  const request = { max_tokens: 800, temperature: 0.8, seed: 99, ignore_eos: true };
  const prompt = { prompt: "And it came to pass" };
  const storage = await originStorage(origin);
  try {
    const a = await startServer(env, args);
    assert.match(a.log, /sessions in Deno KV \(the deployment's database: Deno.openKv\(\) with no path\)/);
    const id = (await (await postJson(`${a.base}/v1/sessions`, prompt)).json()).id;
    const cut = await readEvents(await postJson(`${a.base}/v1/sessions/${id}/generate`, request), 30);
    a.child.kill("SIGKILL");
    await a.child.status;
    assert.equal(cut.length, 30);
    await Deno.stat(`${storage}/kv.sqlite3`); // the session went to the origin's database

    const b = await startServer(env, args);
    try {
      const rest = await readEvents(
        await fetch(`${b.base}/v1/sessions/${id}/stream`, {
          headers: { "last-event-id": String(cut.at(-1)!.id) },
        }),
      );
      assert.equal(rest.at(-1)!.event, "done");
      const fresh = (await (await postJson(`${b.base}/v1/sessions`, prompt)).json()).id;
      const whole = await readEvents(await postJson(`${b.base}/v1/sessions/${fresh}/generate`, request));
      assert.equal(textOf(cut) + textOf(rest), textOf(whole));
    } finally {
      b.child.kill("SIGTERM");
      await b.child.status;
    }
  } finally {
    await Deno.remove(storage, { recursive: true }).catch(() => {});
  }
});
