/**
 * The Cloudflare Workers entry: the same Hono app as `main.ts`, on workerd. The embedded default
 * model and the WASM kernels are bundled with the Worker (wrangler.toml's module rules) and the
 * model is assembled from those bytes once per isolate, on its first request.
 *
 * Not yet: a Durable Object store. Sessions live in the isolate's memory (a MemoryStore), so they
 * last only as long as that isolate; completions and chat need no store.
 *
 * @module
 */

/// <reference path="./modules.d.ts" />
import weights from "../assets/rwkv7-kjv-4m/model.safetensors";
import vocab from "../assets/rwkv7-kjv-4m/vocab.txt";
import single from "../kernels/wasm/kernels.wasm";
import baseline from "../kernels/wasm/kernels_baseline.wasm";
import { provideKernelModule } from "../kernels/mod.ts";
import { assembleModel } from "../models/mod.ts";
import { SessionService } from "../engine/mod.ts";
import { MemoryStore } from "../store/memory.ts";
import { createApp, DEFAULT_LIMITS } from "../routes/mod.ts";

/** Variables a deployment may set (wrangler.toml `[vars]` or secrets). */
interface Env {
  readonly API_KEYS?: string;
  readonly CORS_ORIGINS?: string;
  readonly MAX_TOKENS?: string;
}

type App = ReturnType<typeof createApp>;

const DEFAULT_ID = "rwkv7-kjv-4m";
let app: Promise<App> | undefined;

async function start(env: Env): Promise<App> {
  const started = Date.now();
  provideKernelModule(single, "single");
  provideKernelModule(baseline, "baseline");
  const loaded = await assembleModel({
    where: DEFAULT_ID,
    weights: { name: "model.safetensors", bytes: new Uint8Array(weights) },
    vocab: { name: "vocab.txt", text: vocab },
  }, { threads: 1, slots: 4 });
  const models = new Map([[loaded.id, loaded]]);
  const sessions = new SessionService({ store: new MemoryStore(), models, defaultModel: loaded.id });
  const list = (v?: string) => new Set((v ?? "").split(",").map((s) => s.trim()).filter(Boolean));
  console.log(
    `loaded ${loaded.id} (${loaded.family}, ${loaded.model.backend.name}) in ${Date.now() - started} ms`,
  );
  return createApp({
    models,
    defaultModel: loaded.id,
    createdAt: Math.floor(Date.now() / 1000),
    limits: { ...DEFAULT_LIMITS, maxTokens: Number(env.MAX_TOKENS) || DEFAULT_LIMITS.maxTokens },
    sessions,
    apiKeys: list(env.API_KEYS),
    corsOrigins: list(env.CORS_ORIGINS),
  });
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    app ??= start(env).catch((err) => {
      app = undefined;
      throw err;
    });
    return (await app).fetch(request);
  },
};
