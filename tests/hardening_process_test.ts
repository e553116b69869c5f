// Hardening against real server processes on the embedded default model: a long prefill does not
// freeze other requests, abandoned completions stop computing, a shutdown past its deadline hands
// streams over at once, and two processes on one Deno KV file race cleanly (200 and 409, no crash).
import assert from "node:assert/strict";
import { startServer } from "./helpers/server.ts";
import { postJson, readEvents } from "./helpers/sse.ts";

/** CPU seconds (user + system) the process has used, from /proc (read with cat: Deno wants --allow-all for /proc). */
async function cpuSeconds(pid: number): Promise<number> {
  const out = await new Deno.Command("cat", { args: [`/proc/${pid}/stat`] }).output();
  const stat = new TextDecoder().decode(out.stdout);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.ceil(p * xs.length) - 1];

Deno.test("during a 16k-token prefill, small requests are answered within ~100 ms (p99)", async () => {
  const server = await startServer({ STORE: "memory" });
  try {
    const prompt = Array.from({ length: 16000 }, (_, i) => (i * 7) % 1000 + 1);
    const started = performance.now();
    let created = false;
    const create = postJson(`${server.base}/v1/sessions`, { prompt }).then(async (r) => {
      created = true;
      return { status: r.status, body: await r.json() };
    });
    const latencies: number[] = [];
    while (!created) {
      const t = performance.now();
      const r = await fetch(`${server.base}/v1/models`);
      await r.body?.cancel();
      latencies.push(performance.now() - t);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const { status, body } = await create;
    const prefillMs = performance.now() - started;
    assert.equal(status, 201);
    assert.equal(body.tokens, 16000);
    const p99 = percentile(latencies, 0.99);
    console.log(
      `prefill of 16000 tokens took ${
        prefillMs.toFixed(0)
      } ms; ${latencies.length} GET /v1/models meanwhile: ` +
        `p50 ${percentile(latencies, 0.5).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${
          Math.max(...latencies).toFixed(1)
        } ms`,
    );
    assert.ok(latencies.length >= 10, `only ${latencies.length} requests got through during the prefill`);
    assert.ok(p99 < 300, `p99 ${p99.toFixed(0)} ms: small requests wait for the prefill`);
  } finally {
    server.child.kill("SIGTERM");
    await server.child.status;
  }
});

Deno.test("non-streamed completions whose clients hung up stop computing", async () => {
  const server = await startServer({ STORE: "memory" });
  try {
    const aborts = Array.from({ length: 20 }, () => new AbortController());
    const requests = aborts.map((a) =>
      fetch(`${server.base}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ prompt: "And God said", max_tokens: 4096, ignore_eos: true }),
        signal: a.signal,
      }).catch(() => undefined)
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const a of aborts) a.abort();
    await Promise.all(requests);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = await cpuSeconds(server.child.pid);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const busy = (await cpuSeconds(server.child.pid) - before) / 2;
    console.log(
      `server CPU after 20 abandoned 4096-token completions: ${(busy * 100).toFixed(0)} % of a core`,
    );
    assert.ok(busy < 0.25, `the server is still ${(busy * 100).toFixed(0)} % busy for clients that left`);
    const ok = await fetch(`${server.base}/v1/models`);
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  } finally {
    server.child.kill("SIGTERM");
    await server.child.status;
  }
});

Deno.test("SIGTERM past the drain deadline ends the stream with an error and frees the session at once", async () => {
  const store = `${await Deno.makeTempDir()}/sessions.kv`;
  const env = { STORE: store, DRAIN_MS: "300", LEASE_MS: "60000", CHECKPOINT_EVERY: "8" };
  const a = await startServer(env);
  const id = (await (await postJson(`${a.base}/v1/sessions`, { prompt: "Blessed are" })).json()).id;
  const request = { max_tokens: 4000, seed: 5, ignore_eos: true };
  const res = await postJson(`${a.base}/v1/sessions/${id}/generate`, request);
  const readAll = readEvents(res);
  await new Promise((resolve) => setTimeout(resolve, 500));
  a.child.kill("SIGTERM");
  const cut = await readAll;
  assert.equal((await a.child.status).code, 0);
  const last = cut.at(-1)!;
  assert.equal(last.event, "error", "the stream ends with an error event, not a silent cut");
  assert.match(String(last.data.message), /shutting down/i);
  assert.equal(last.id, -1, "the error carries no id, so Last-Event-ID stays at the last token");
  const tokens = cut.filter((e) => e.event === "token");
  assert.ok(tokens.length > 0 && tokens.length < 4000);

  const b = await startServer(env);
  try {
    // The lease was released: with LEASE_MS 60 s, a kept lease would hold the resume back a minute.
    const t = performance.now();
    const rest = await readEvents(
      await fetch(`${b.base}/v1/sessions/${id}/stream`, {
        headers: { "last-event-id": String(tokens.at(-1)!.id) },
      }),
      1,
    );
    const gap = performance.now() - t;
    console.log(`after SIGTERM the next instance resumed in ${gap.toFixed(0)} ms`);
    assert.ok(gap < 10_000, `resumed after ${gap.toFixed(0)} ms`);
    assert.equal(rest[0].event, "token");
    assert.equal(rest[0].id, tokens.at(-1)!.id + 1, "no token lost or repeated across the shutdown");
  } finally {
    b.child.kill("SIGKILL");
    await b.child.status;
  }
});

Deno.test("two processes on one store racing to generate on one session: one 200 and one 409, no crash", async () => {
  const store = `${await Deno.makeTempDir()}/sessions.kv`;
  const a = await startServer({ STORE: store });
  const b = await startServer({ STORE: store });
  let exited = "";
  a.child.status.then((s) => exited += `first exited with ${s.code}; `);
  b.child.status.then((s) => exited += `second exited with ${s.code}; `);
  try {
    const id = (await (await postJson(`${a.base}/v1/sessions`, { prompt: "In the beginning" })).json()).id;
    const rounds: number[][] = [];
    for (let round = 0; round < 10; round++) {
      const body = { max_tokens: 300, seed: round, stream: false, ignore_eos: true };
      const answers = await Promise.all([a, b].map(async (s) => {
        const r = await postJson(`${s.base}/v1/sessions/${id}/generate`, body);
        await r.body?.cancel();
        return r.status;
      }));
      rounds.push(answers.sort());
    }
    assert.equal(exited, "", "both processes are alive");
    assert.deepEqual(rounds, Array.from({ length: 10 }, () => [200, 409]));
  } finally {
    for (const s of [a, b]) s.child.kill("SIGTERM");
    await Promise.all([a.child.status, b.child.status]);
  }
});
