// Two real server processes on one real redis-server: a follower on instance B gets each token as
// instance A produces it (the delay is measured and printed), a second generate gets 409 from
// either instance, and when A is SIGKILLed B's follower goes on after about one lease time with
// no token lost or repeated (the gap the client sees is measured and printed).
import assert from "node:assert/strict";
import { redisMissing, startRedis } from "./helpers/redis_server.ts";
import { type ServerProcess, startServer } from "./helpers/server.ts";
import { postJson, readEvents, type SseEvent } from "./helpers/sse.ts";

const ignore = redisMissing !== undefined;
if (ignore) console.warn(`Redis instance tests skipped: ${redisMissing}`);

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.ceil(p * xs.length) - 1];
const tokens = (events: SseEvent[]) => events.filter((e) => e.event === "token");

async function stop(...servers: ServerProcess[]) {
  for (const s of servers) {
    try {
      s.child.kill("SIGKILL");
    } catch { /* exited already */ }
  }
  await Promise.all(servers.map((s) => s.child.status));
}

Deno.test({
  name: "a follower on another instance gets each token as it is produced, not per checkpoint",
  ignore,
  fn: async () => {
    const redis = await startRedis();
    // No checkpoint before the end (16 tokens would do one every few ms): only the live feed can
    // bring B the tokens while A generates.
    const env = { STORE: redis.url, CHECKPOINT_EVERY: "100000", LEASE_MS: "60000" };
    const [a, b] = await Promise.all([startServer(env), startServer(env)]);
    try {
      const id = (await (await postJson(`${a.base}/v1/sessions`, { prompt: "In the beginning" })).json()).id;
      const started = await postJson(`${a.base}/v1/sessions/${id}/generate`, { max_tokens: 600, seed: 3 });
      const [onA, onB] = await Promise.all([
        readEvents(started),
        fetch(`${b.base}/v1/sessions/${id}/stream`).then(readEvents),
      ]);
      assert.equal(onA.at(-1)!.event, "done");
      assert.deepEqual(onB.map((e) => [e.id, e.event, e.data]), onA.map((e) => [e.id, e.event, e.data]));
      const firstOnB = tokens(onB)[0].at;
      assert.ok(
        firstOnB < onA.at(-1)!.at,
        "B had tokens before A's generation ended (nothing was logged yet)",
      );
      const atA = new Map(tokens(onA).map((e) => [e.id, e.at]));
      const delays = tokens(onB).map((e) => e.at - atA.get(e.id)!).filter((_, i) => i >= 20);
      console.log(
        `A emits → B's client receives (${delays.length} tokens after the first 20): median ${
          percentile(delays, 0.5).toFixed(2)
        } ms, p99 ${percentile(delays, 0.99).toFixed(2)} ms (A's own client as the emit clock)`,
      );
    } finally {
      await stop(a, b);
      await redis.stop();
    }
  },
});

Deno.test({
  name: "SIGKILL of the generating instance: the follower on another instance goes on within about a lease",
  ignore,
  fn: async () => {
    const redis = await startRedis();
    const env = { STORE: redis.url, CHECKPOINT_EVERY: "16", LEASE_MS: "1000" };
    const [a, b] = await Promise.all([startServer(env), startServer(env)]);
    try {
      const prompt = { prompt: "And it came to pass" };
      const request = { max_tokens: 1500, temperature: 0.8, seed: 77, ignore_eos: true };
      const id = (await (await postJson(`${a.base}/v1/sessions`, prompt)).json()).id;
      const onA = await postJson(`${a.base}/v1/sessions/${id}/generate`, request);
      for (const s of [a, b]) {
        const second = await postJson(`${s.base}/v1/sessions/${id}/generate`, request);
        await second.body?.cancel();
        assert.equal(second.status, 409, "a second generate is refused by every instance");
      }
      const follower = await fetch(`${b.base}/v1/sessions/${id}/stream`);
      const reading = readEvents(follower);
      await readEvents(onA, 100);
      a.child.kill("SIGKILL");
      const killedAt = performance.now();
      await a.child.status;
      const seen = await reading;
      assert.equal(seen.at(-1)!.event, "done");
      const ids = tokens(seen).map((e) => e.id);
      assert.deepEqual(ids, Array.from({ length: 1500 }, (_, i) => ids[0] + i), "none lost, none repeated");

      const fresh = (await (await postJson(`${b.base}/v1/sessions`, prompt)).json()).id;
      const whole = await readEvents(await postJson(`${b.base}/v1/sessions/${fresh}/generate`, request));
      assert.deepEqual(tokens(seen).map((e) => e.data.token_id), tokens(whole).map((e) => e.data.token_id));

      const after = seen.filter((e) => e.at > killedAt);
      let gap = 0;
      for (let i = 1; i < seen.length; i++) gap = Math.max(gap, seen[i].at - seen[i - 1].at);
      console.log(
        `takeover: the client on B waited ${gap.toFixed(0)} ms between two tokens at most ` +
          `(LEASE_MS 1000); ${after.length} events arrived after the kill`,
      );
    } finally {
      await stop(a, b);
      await redis.stop();
    }
  },
});
