// `deno task start` as a user runs it: a real server process on the embedded default model,
// answered over a real socket.
import assert from "node:assert/strict";
import { startServer } from "./helpers/server.ts";

Deno.test("the server starts on its default model and streams a completion over SSE", async () => {
  const { child, base, log } = await startServer({ STORE: "memory" });
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
