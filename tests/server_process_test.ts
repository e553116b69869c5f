// `deno task start` as a user runs it: a real server process on the embedded default model,
// answered over a real socket.
import assert from "node:assert/strict";
import { startArgs, startServer } from "./helpers/server.ts";

Deno.test("the server starts on its default model and streams a completion over SSE", async () => {
  const { child, base, log } = await startServer({ STORE: "memory" });
  try {
    assert.match(log, /loaded rwkv7-kjv-4m \(rwkv7, wasm backend, 1 thread\(s\)\)/);
    assert.doesNotMatch(log, /warning/i);
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
    const bad = await fetch(`${base}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{",
    });
    assert.equal(bad.status, 400);
    await bad.body?.cancel();
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
});

/** Runs `deno task start` to its end (it should fail to start) and returns its exit code and stderr. */
async function startFailure(env: Record<string, string>, args: string[] = []) {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [...startArgs(), ...args],
    cwd: new URL("../", import.meta.url).pathname,
    env: { HOST: "127.0.0.1", STORE: "memory", ...env },
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code, stderr: new TextDecoder().decode(stderr) };
}

function assertPlainMessage(stderr: string, message: RegExp) {
  assert.match(stderr, message);
  assert.doesNotMatch(stderr, /Uncaught/);
  assert.doesNotMatch(stderr, /^\s+at /m, `a stack trace was printed:\n${stderr}`);
}

Deno.test("a model directory that does not exist ends startup with the loader's message, no stack trace", async () => {
  const { code, stderr } = await startFailure({}, ["--model", "/nonexistent/model"]);
  assert.equal(code, 1);
  assertPlainMessage(stderr, /^Cannot read model directory \/nonexistent\/model: No such file or directory/m);
});

Deno.test("a directory that is not a model (MODEL=dir) ends startup with what was found", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/notes.txt`, "not a model");
  const { code, stderr } = await startFailure({ MODEL: dir });
  assert.equal(code, 1);
  assertPlainMessage(stderr, /expected exactly one \.safetensors file, found none/);
});

Deno.test("a port already in use ends startup saying so and what to pass instead", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const { code, stderr } = await startFailure({ PORT: String(port) });
  assert.equal(code, 1);
  assertPlainMessage(
    stderr,
    new RegExp(`^Port ${port} is in use on 127\\.0\\.0\\.1: pass another with --port or PORT`, "m"),
  );
});
