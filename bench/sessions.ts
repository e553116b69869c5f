/**
 * Session benchmarks: store save/load time against state size (Deno KV file,
 * Redis when a redis-server can be reached or started, memory), and time to first token after resuming a session with 10, 1 000 and
 * 10 000 tokens of history, beside the time a stateless server would spend
 * re-reading that history (prefilling it again).
 *
 * @module
 */

import {
  appendTokens,
  decodeStateBlob,
  encodeStateBlob,
  newSession,
  releaseState,
  sampleToken,
} from "../engine/mod.ts";
import { DEFAULT_SAMPLING } from "../engine/mod.ts";
import type { LoadedModel } from "../models/mod.ts";
import { MemoryStore, openDenoKvStore, openRedisStore, type StateStore } from "../store/mod.ts";
import { redisMissing, startRedis } from "../tests/helpers/redis_server.ts";

/** Size of the raw blob row: a state of a ~1B-parameter model. */
const RAW_BLOB_BYTES = 20_000_000;

/** Redis for the bench: REDIS_URL if set, else a redis-server started here; a reason when neither. */
async function benchRedis(): Promise<{ url: string; stop: () => Promise<void> } | string> {
  const url = Deno.env.get("REDIS_URL");
  if (url) return { url, stop: () => Promise.resolve() };
  return redisMissing ?? await startRedis();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function time(fn: () => Promise<unknown> | unknown, repeats: number): Promise<number> {
  const out: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return median(out);
}

/** Save (encode + put blob + publish) and load (get + read + decode) times per store and state size. */
export async function benchStore(models: LoadedModel[]): Promise<string[]> {
  const lines = ["| store | model | state blob | save ms | load ms |", "| --- | --- | ---: | ---: | ---: |"];
  const dir = await Deno.makeTempDir();
  const stores: [string, StateStore][] = [["deno kv (file)", await openDenoKvStore(`${dir}/bench.kv`)]];
  const redis = await benchRedis();
  if (typeof redis === "string") lines.unshift(`(no Redis row: ${redis}; REDIS_URL names one)\n`);
  else stores.push(["redis (local)", await openRedisStore(redis.url, { prefix: `bench${Date.now()}:` })]);
  stores.push(["memory", new MemoryStore()]);
  for (const [name, store] of stores) {
    for (const loaded of models) {
      const session = newSession(loaded, 1);
      appendTokens(loaded, session, [1, 2, 3]);
      let version: string | undefined;
      const id = crypto.randomUUID();
      let blobBytes = 0;
      const save = await time(async () => {
        const blob = encodeStateBlob(loaded, session);
        blobBytes = blob.length;
        const now = Date.now();
        const meta = {
          id,
          model: loaded.id,
          fingerprint: loaded.fingerprint,
          tokens: session.tokens,
          stateBytes: blob.length,
          createdAt: now,
          updatedAt: now,
          blob: await store.putBlob(blob),
        };
        version = await store.publish(meta, version);
      }, 7);
      const load = await time(async () => {
        const found = await store.get(id);
        decodeStateBlob(loaded, await store.readBlob(found!.meta.blob));
      }, 7);
      lines.push(
        `| ${name} | ${loaded.id} | ${(blobBytes / 1e6).toFixed(2)} MB | ${save.toFixed(1)} | ${
          load.toFixed(1)
        } |`,
      );
    }
    const raw = new Uint8Array(RAW_BLOB_BYTES).map((_, i) => (i * 2654435761) >>> 24);
    let rawVersion: string | undefined;
    const rawId = crypto.randomUUID();
    const rawSave = await time(async () => {
      const now = Date.now();
      const base = { id: rawId, model: "raw", fingerprint: "", tokens: 0, createdAt: now, updatedAt: now };
      rawVersion = await store.publish(
        { ...base, stateBytes: raw.length, blob: await store.putBlob(raw) },
        rawVersion,
      );
    }, 7);
    const rawLoad = await time(async () => await store.readBlob((await store.get(rawId))!.meta.blob), 7);
    lines.push(
      `| ${name} | (raw blob) | ${(raw.length / 1e6).toFixed(2)} MB | ${rawSave.toFixed(1)} | ${
        rawLoad.toFixed(1)
      } |`,
    );
    store.close();
  }
  if (typeof redis !== "string") await redis.stop();
  return lines;
}

/** Time to first token after resuming a stored session with N tokens of history, vs prefilling N again. */
export async function benchResume(loaded: LoadedModel, histories: number[]): Promise<string[]> {
  const lines = [
    `| history (tokens) | resume: load state + first token, ms | re-prefill history + first token, ms | ratio |`,
    "| ---: | ---: | ---: | ---: |",
  ];
  const dir = await Deno.makeTempDir();
  const store = await openDenoKvStore(`${dir}/resume.kv`);
  const vocab = Math.min(loaded.model.info.vocabSize, loaded.tokenizer.vocabSize);
  for (const n of histories) {
    const history = Array.from({ length: n }, (_, i) => 1 + ((i * 7919) % (vocab - 1)));
    const session = newSession(loaded, 7);
    const t0 = performance.now();
    await appendTokens(loaded, session, history);
    const sample = sampleToken(session.logits!, DEFAULT_SAMPLING, session.sampler);
    await appendTokens(loaded, session, [sample]);
    const reprefill = performance.now() - t0;
    await releaseState(loaded, session);
    const blobId = await store.putBlob(encodeStateBlob(loaded, session));
    const id = crypto.randomUUID();
    const now = Date.now();
    await store.publish({
      id,
      model: loaded.id,
      fingerprint: loaded.fingerprint,
      tokens: session.tokens,
      stateBytes: 0,
      createdAt: now,
      updatedAt: now,
      blob: blobId,
    }, undefined);
    const resume = await time(async () => {
      const found = await store.get(id);
      const s = decodeStateBlob(loaded, await store.readBlob(found!.meta.blob));
      const tok = sampleToken(s.logits!, DEFAULT_SAMPLING, s.sampler);
      await appendTokens(loaded, s, [tok]);
      await releaseState(loaded, s);
    }, 5);
    lines.push(
      `| ${n} | ${resume.toFixed(1)} | ${reprefill.toFixed(1)} | ${(reprefill / resume).toFixed(1)}× |`,
    );
  }
  store.close();
  return lines;
}
