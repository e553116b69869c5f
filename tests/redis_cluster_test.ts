// Three server processes on one real redis-server behind a round-robin proxy, as in production.
// 20 trials: a generation starts through the proxy, every instance answers 409 to a second one,
// the instance running it is SIGKILLed after a random number of tokens, and the client reconnects
// through the proxy with Last-Event-ID. It must receive exactly the uninterrupted run: 0 tokens lost,
// 0 repeated, the same token ids and text. The killed instance is restarted for the next trial.
import assert from "node:assert/strict";
import { redisMissing, startRedis } from "./helpers/redis_server.ts";
import { startProxy } from "./helpers/round_robin_proxy.ts";
import { type ServerProcess, startServer } from "./helpers/server.ts";
import { postJson, readEvents, type SseEvent, textOf } from "./helpers/sse.ts";

const TRIALS = 20;
const MAX_TOKENS = 1500;
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.ceil(p * xs.length) - 1];
const tokens = (events: SseEvent[]) => events.filter((e) => e.event === "token");

Deno.test({
  name: `three instances behind a proxy: ${TRIALS} SIGKILLs of the generating one, each resumed exactly`,
  ignore: redisMissing !== undefined,
  fn: async () => {
    if (redisMissing) return;
    const redis = await startRedis();
    const env = { STORE: redis.url, CHECKPOINT_EVERY: "16", LEASE_MS: "1000" };
    const instances: ServerProcess[] = await Promise.all([0, 1, 2].map(() => startServer(env)));
    const proxy = startProxy(instances.map((s) => s.base));
    const prompt = { prompt: "And God said" };
    const request = { max_tokens: MAX_TOKENS, temperature: 0.8, seed: 4242, ignore_eos: true };
    const gaps: number[] = [];
    try {
      const reference = (await (await postJson(`${proxy.base}/v1/sessions`, prompt)).json()).id;
      const whole = await readEvents(
        await postJson(`${proxy.base}/v1/sessions/${reference}/generate`, request),
      );
      assert.equal(tokens(whole).length, MAX_TOKENS);

      for (let trial = 0; trial < TRIALS; trial++) {
        const id = (await (await postJson(`${proxy.base}/v1/sessions`, prompt)).json()).id;
        const started = await postJson(`${proxy.base}/v1/sessions/${id}/generate`, request);
        assert.equal(started.status, 200);
        const runner = instances.findIndex((s) => s.base === started.headers.get("x-upstream"));
        const cutAt = 5 + Math.floor(Math.random() * 200);
        const cut = await readEvents(started, cutAt);
        for (const s of instances) {
          const second = await postJson(`${s.base}/v1/sessions/${id}/generate`, request);
          await second.body?.cancel();
          assert.equal(second.status, 409, `trial ${trial}: a second generate on ${s.base}`);
        }
        instances[runner].child.kill("SIGKILL");
        const killedAt = performance.now();
        await instances[runner].child.status;

        const info = await (await fetch(`${proxy.base}/v1/sessions/${id}`)).json();
        assert.ok(
          info.tokens < whole.at(-1)!.id,
          `trial ${trial}: the kill cut the generation (${info.tokens})`,
        );
        const lastSeen = String(cut.at(-1)!.id);
        const resumed = await fetch(`${proxy.base}/v1/sessions/${id}/stream`, {
          headers: { "last-event-id": lastSeen },
        });
        const rest = await readEvents(resumed);
        // The longest the client waited for a token: while the dead instance's lease ran out.
        let gap = rest[0].at - killedAt;
        for (let i = 1; i < rest.length; i++) gap = Math.max(gap, rest[i].at - rest[i - 1].at);
        gaps.push(gap);
        assert.equal(rest.at(-1)!.event, "done", `trial ${trial} ends with done`);
        const got = [...tokens(cut), ...tokens(rest)];
        assert.deepEqual(got.map((e) => e.id), tokens(whole).map((e) => e.id), `trial ${trial}: positions`);
        assert.deepEqual(
          got.map((e) => e.data.token_id),
          tokens(whole).map((e) => e.data.token_id),
          `trial ${trial}: token ids`,
        );
        assert.equal(textOf(cut) + textOf(rest), textOf(whole), `trial ${trial}: text`);

        // The killed instance comes back (on a new port) for the next trial.
        instances[runner] = await startServer(env);
        proxy.upstreams[runner] = instances[runner].base;
      }
      console.log(
        `${TRIALS}/${TRIALS} trials exact (0 lost, 0 repeated); longest wait for a token after the kill ` +
          `(reconnecting through the proxy): median ${percentile(gaps, 0.5).toFixed(0)} ms, max ${
            Math.max(...gaps).toFixed(0)
          } ms (LEASE_MS 1000)`,
      );
    } finally {
      for (const s of instances) {
        try {
          s.child.kill("SIGKILL");
        } catch { /* killed already */ }
      }
      await Promise.all(instances.map((s) => s.child.status));
      await proxy.stop();
      await redis.stop();
    }
  },
});
