// `deno task start` as a user runs it: a real server process on the embedded default model,
// answered over a real socket.
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;

async function startServer(env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", "--allow-net", "--allow-write", "main.ts"],
    cwd: ROOT,
    env,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited before listening: ${seen}`);
    seen += value;
    const m = seen.match(/listening on http:\/\/[^:]+:(\d+)/);
    if (m) {
      // Keep draining stdout so the child never blocks on a full pipe.
      (async () => {
        while (!(await reader.read()).done) { /* drain */ }
      })();
      return { child, base: `http://127.0.0.1:${m[1]}`, log: seen };
    }
  }
}

Deno.test("the server starts on its default model and streams a completion over SSE", async () => {
  const { child, base, log } = await startServer({ PORT: "0", HOST: "127.0.0.1", STORE: "memory" });
  try {
    assert.match(log, /loaded rwkv7-kjv-4m \(rwkv7, wasm backend, 1 thread\(s\)\)/);
    const models = await (await fetch(`${base}/v1/models`)).json();
    assert.equal(models.data[0].id, "rwkv7-kjv-4m");
    const res = await fetch(`${base}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "In the beginning God", max_tokens: 24, stream: true, seed: 3 }),
    });
    assert.equal(res.status, 200);
    const text = await res.text();
    const data = text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6));
    assert.equal(data.at(-1), "[DONE]");
    const completion = data.slice(0, -1).map((d) => JSON.parse(d).choices[0].text).join("");
    assert.ok(completion.length > 20, `completion too short: ${JSON.stringify(completion)}`);
    const bad = await fetch(`${base}/v1/completions`, { method: "POST", body: "{" });
    assert.equal(bad.status, 400);
    await bad.body?.cancel();
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
});
