/**
 * Sessions across instances: two real server processes on one store (a Deno KV
 * file, then Redis). How long after instance A's own client gets a token a
 * client following the same generation on instance B gets it, and, after A is
 * SIGKILLed mid-generation, the longest B's client waits for a token (the
 * takeover gap) with LEASE_MS 1000.
 *
 * @module
 */

import { redisMissing, startRedis } from "../tests/helpers/redis_server.ts";
import { type ServerProcess, startServer } from "../tests/helpers/server.ts";
import { postJson, readEvents, type SseEvent } from "../tests/helpers/sse.ts";

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.ceil(p * xs.length) - 1];
const tokens = (events: SseEvent[]) => events.filter((e) => e.event === "token");
const ENV = { CHECKPOINT_EVERY: "16", LEASE_MS: "1000" };

async function kill(...servers: ServerProcess[]): Promise<void> {
  for (const s of servers) {
    try {
      s.child.kill("SIGKILL");
    } catch { /* exited already */ }
  }
  await Promise.all(servers.map((s) => s.child.status));
}

/** Delays (ms) from A's client to B's client, token by token, over one 600-token generation. */
async function delays(store: string): Promise<number[]> {
  const [a, b] = await Promise.all([
    startServer({ STORE: store, ...ENV }),
    startServer({ STORE: store, ...ENV }),
  ]);
  try {
    const id = (await (await postJson(`${a.base}/v1/sessions`, { prompt: "In the beginning" })).json()).id;
    const started = await postJson(`${a.base}/v1/sessions/${id}/generate`, { max_tokens: 600, seed: 3 });
    const [onA, onB] = await Promise.all([
      readEvents(started),
      fetch(`${b.base}/v1/sessions/${id}/stream`).then(readEvents),
    ]);
    const atA = new Map(tokens(onA).map((e) => [e.id, e.at]));
    return tokens(onB).slice(20).map((e) => e.at - atA.get(e.id)!);
  } finally {
    await kill(a, b);
  }
}

/** The longest B's client waits for a token once A, generating, is SIGKILLed. */
async function takeoverGap(store: string): Promise<number> {
  const [a, b] = await Promise.all([
    startServer({ STORE: store, ...ENV }),
    startServer({ STORE: store, ...ENV }),
  ]);
  try {
    const id = (await (await postJson(`${a.base}/v1/sessions`, { prompt: "And it came to pass" })).json()).id;
    const request = { max_tokens: 1500, seed: 7, ignore_eos: true };
    const onA = await postJson(`${a.base}/v1/sessions/${id}/generate`, request);
    const following = fetch(`${b.base}/v1/sessions/${id}/stream`).then(readEvents);
    await readEvents(onA, 100);
    a.child.kill("SIGKILL");
    const killedAt = performance.now();
    const seen = (await following).filter((e) => e.at > killedAt);
    let gap = seen.length ? seen[0].at - killedAt : NaN;
    for (let i = 1; i < seen.length; i++) gap = Math.max(gap, seen[i].at - seen[i - 1].at);
    return gap;
  } finally {
    await kill(a, b);
  }
}

/** The table: one row per store, `trials` takeovers each. */
export async function benchCluster(trials: number): Promise<string[]> {
  const lines = [
    "| store | token delay A → B, median ms | p99 ms | takeover gap after SIGKILL, median ms | max ms |",
    "| --- | ---: | ---: | ---: | ---: |",
  ];
  const redis = redisMissing ? undefined : await startRedis();
  const stores: [string, string][] = [["deno kv (file)", `${await Deno.makeTempDir()}/cluster.kv`]];
  if (redis) stores.push(["redis (local)", redis.url]);
  else lines.unshift(`(no Redis row: ${redisMissing})\n`);
  try {
    for (const [name, store] of stores) {
      const d = await delays(store);
      const gaps: number[] = [];
      for (let i = 0; i < trials; i++) gaps.push(await takeoverGap(store));
      lines.push(
        `| ${name} | ${percentile(d, 0.5).toFixed(1)} | ${percentile(d, 0.99).toFixed(1)} | ${
          percentile(gaps, 0.5).toFixed(0)
        } | ${Math.max(...gaps).toFixed(0)} |`,
      );
    }
  } finally {
    await redis?.stop();
  }
  return lines;
}
