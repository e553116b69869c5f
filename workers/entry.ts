/**
 * The Cloudflare Workers entry: the same Hono app as `main.ts`, on workerd. The embedded default
 * model and the WASM kernels are bundled with the Worker (wrangler.toml's module rules) and the
 * model is assembled from those bytes once per isolate, on its first request.
 *
 * The playground page is served at `/` from the same bundle (its scripts and the kernels' bytes
 * as text modules).
 *
 * Sessions live in Durable Objects (store/durable_object.ts, the classes in ./durable_objects.ts)
 * when wrangler.toml binds them, so they outlive any isolate; without the bindings, in the
 * isolate's memory. A cron trigger sweeps blobs no session uses.
 *
 * @module
 */

/// <reference path="./modules.d.ts" />
import weights from "../assets/rwkv7-kjv-4m/model.safetensors";
import vocab from "../assets/rwkv7-kjv-4m/vocab.txt";
import single from "../kernels/wasm/kernels.wasm";
import baseline from "../kernels/wasm/kernels_baseline.wasm";
import page from "../playground/page.html";
import appScript from "../playground/dist/app.js";
import localWorkerScript from "../playground/dist/local_worker.js";
import kernelsBase64 from "../playground/dist/kernels.wasm.base64.txt";
import baselineBase64 from "../playground/dist/kernels_baseline.wasm.base64.txt";
import { provideKernelModule } from "../kernels/mod.ts";
import { assembleModel, type ModelFile } from "../models/mod.ts";
import { SessionService } from "../engine/mod.ts";
import { MemoryStore } from "../store/memory.ts";
import { DurableObjectStore } from "../store/durable_object.ts";
import type { StateStore } from "../store/types.ts";
import { createApp, DEFAULT_LIMITS, type Playground } from "../routes/mod.ts";
import { blobShards, storeBindings, type StoreEnv } from "./durable_objects.ts";

export { BlobShardObject, OwnerObject, SessionObject } from "./durable_objects.ts";

/** Variables a deployment may set (wrangler.toml `[vars]` or secrets), and the store's bindings. */
interface Env extends Partial<StoreEnv> {
  readonly API_KEYS?: string;
  readonly CORS_ORIGINS?: string;
  readonly MAX_TOKENS?: string;
  readonly SESSION_TTL_HOURS?: string;
  readonly CHECKPOINT_EVERY?: string;
  readonly LEASE_MS?: string;
}

/** Blobs younger than this are never swept (a publish may be about to use them), as on Deno. */
const SWEEP_GRACE_MS = 10 * 60 * 1000;

/** The Durable Object store when wrangler.toml binds it, else the isolate's memory. */
function openStore(env: Env): StateStore {
  const bindings = storeBindings(env);
  if (!bindings) return new MemoryStore();
  const ttlMs = (Number(env.SESSION_TTL_HOURS) || 168) * 3600 * 1000;
  return new DurableObjectStore(bindings, {
    ttlMs,
    blobShards: blobShards(env),
  });
}

type App = ReturnType<typeof createApp>;

const DEFAULT_ID = "rwkv7-kjv-4m";
let app: Promise<App> | undefined;

async function start(env: Env): Promise<App> {
  const started = Date.now();
  provideKernelModule(single, "single");
  provideKernelModule(baseline, "baseline");
  const weightBytes = new Uint8Array(weights);
  const loaded = await assembleModel({
    where: DEFAULT_ID,
    weights: { name: "model.safetensors", bytes: weightBytes },
    vocab: { name: "vocab.txt", text: vocab },
  }, { threads: 1, slots: 4 });
  const vocabBytes = new TextEncoder().encode(vocab);
  const files: ModelFile[] = [
    { name: "model.safetensors", size: weightBytes.length, open: () => Promise.resolve(weightBytes) },
    { name: "vocab.txt", size: vocabBytes.length, open: () => Promise.resolve(vocabBytes) },
  ];
  const models = new Map([[loaded.id, loaded]]);
  const sessions = new SessionService({
    store: openStore(env),
    models,
    defaultModel: loaded.id,
    checkpointEvery: Number(env.CHECKPOINT_EVERY) || undefined,
    leaseMs: Number(env.LEASE_MS) || undefined,
  });
  const list = (v?: string) => new Set((v ?? "").split(",").map((s) => s.trim()).filter(Boolean));
  console.log(
    `loaded ${loaded.id} (${loaded.family}, ${loaded.model.backend.name}) in ${Date.now() - started} ms`,
  );
  return createApp({
    models,
    defaultModel: loaded.id,
    createdAt: Math.floor(Date.now() / 1000),
    limits: {
      ...DEFAULT_LIMITS,
      maxTokens: Number(env.MAX_TOKENS) || DEFAULT_LIMITS.maxTokens,
    },
    sessions,
    apiKeys: list(env.API_KEYS),
    corsOrigins: list(env.CORS_ORIGINS),
    playground: playground(),
    modelFiles: new Map([[loaded.id, files]]),
  });
}

/** The playground page and its files, from the modules bundled with the Worker. */
function playground(): Playground {
  const script = "text/javascript; charset=utf-8";
  const wasm = (base64: string) => ({
    body: Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)),
    type: "application/wasm",
  });
  return {
    page,
    assets: new Map([
      ["app.js", { body: appScript, type: script }],
      ["local_worker.js", { body: localWorkerScript, type: script }],
      ["kernels.wasm", wasm(kernelsBase64)],
      ["kernels_baseline.wasm", wasm(baselineBase64)],
    ]),
  };
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    app ??= start(env).catch((err) => {
      app = undefined;
      throw err;
    });
    return (await app).fetch(request);
  },

  /** The cron trigger: deletes blobs no session uses (left by a crash between write and publish). */
  async scheduled(_controller: unknown, env: Env): Promise<void> {
    const store = openStore(env);
    if (store instanceof DurableObjectStore) {
      console.log(`swept ${await store.sweep(SWEEP_GRACE_MS)} blobs`);
    }
  },
};
