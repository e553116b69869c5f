/**
 * What the Worker and its session hosts (./session_host.ts) both serve, built once per isolate:
 * the bundled default model (in `WEIGHTS`' format), the models `R2_MODELS` names from the `MODELS`
 * bucket within `MEMORY_BUDGET_MB`, and the Hono app over a session service on the Durable Object
 * store. Reads the deployment's variables; wires pieces, decides nothing about serving.
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
import {
  assembleModel,
  type LoadedModel,
  type ModelFile,
  type ModelSource,
  WEIGHT_FORMATS,
} from "../models/mod.ts";
import { parseStateDType, SessionService, type StateDType } from "../engine/mod.ts";
import { MemoryStore } from "../store/memory.ts";
import { DurableObjectStore } from "../store/durable_object.ts";
import type { StateStore } from "../store/types.ts";
import { createApp, DEFAULT_LIMITS, type Playground } from "../routes/mod.ts";
import { blobShards, storeBindings, type StoreEnv } from "./durable_objects.ts";
import {
  loadR2Model,
  modelFootprint,
  ModelTooLargeError,
  type R2BucketLike,
  WORKER_SLOTS,
} from "./r2_models.ts";

/** Variables a deployment may set (wrangler.toml `[vars]` or secrets), and the bindings. */
export interface WorkerEnv extends Partial<StoreEnv> {
  readonly API_KEYS?: string;
  readonly CORS_ORIGINS?: string;
  readonly MAX_TOKENS?: string;
  readonly SESSION_TTL_HOURS?: string;
  readonly CHECKPOINT_EVERY?: string;
  readonly LEASE_MS?: string;
  /** Tokens a session generation makes per invocation before it pauses (default 2048). */
  readonly TOKENS_PER_INVOCATION?: string;
  /** int8 or q4: quantize the bundled model (and R2 models stored unquantized) as they load. */
  readonly WEIGHTS?: string;
  /** f32 (default) or bf16: how checkpoints store session states (bf16 halves them). */
  readonly STATE_DTYPE?: string;
  /** The isolate's memory budget for models (default 128). */
  readonly MEMORY_BUDGET_MB?: string;
  /** Comma-separated key prefixes of models in the MODELS bucket. */
  readonly R2_MODELS?: string;
  /** The R2 bucket holding the models `R2_MODELS` names. */
  readonly MODELS?: R2BucketLike;
}

/** The models an isolate serves, their files, and those refused (by name: why). */
export interface ServedModels {
  readonly models: Map<string, LoadedModel>;
  readonly files: Map<string, ModelFile[]>;
  readonly refused: Map<string, ModelTooLargeError>;
  readonly defaultModel: string;
  /** Bytes of the memory budget the served models take (weight files plus WASM memory). */
  readonly used: number;
}

/** Tokens per invocation on Workers unless TOKENS_PER_INVOCATION says otherwise. */
const DEFAULT_TOKENS_PER_INVOCATION = 2048;
const DEFAULT_ID = "rwkv7-kjv-4m";
let served: Promise<ServedModels> | undefined;

/** The isolate's models, assembled on the first call (a failed start is tried again on the next). */
export function servedModels(env: WorkerEnv): Promise<ServedModels> {
  served ??= loadModels(env).catch((err) => {
    served = undefined;
    throw err;
  });
  return served;
}

async function loadModels(env: WorkerEnv): Promise<ServedModels> {
  const started = Date.now();
  provideKernelModule(single, "single");
  provideKernelModule(baseline, "baseline");
  const format = env.WEIGHTS ? WEIGHT_FORMATS[env.WEIGHTS] : undefined;
  if (env.WEIGHTS && !format) {
    throw new TypeError(`WEIGHTS must be int8 or q4, got "${env.WEIGHTS}"`);
  }
  stateDType(env); // a bad value refuses the isolate's start, as a bad WEIGHTS does
  const budget = (Number(env.MEMORY_BUDGET_MB) || 128) * 1024 * 1024;
  const weightBytes = new Uint8Array(weights);
  const source: ModelSource = {
    where: DEFAULT_ID,
    weights: { name: "model.safetensors", bytes: weightBytes },
    vocab: { name: "vocab.txt", text: vocab },
  };
  let used = modelFootprint(source, format).bytes;
  const loaded = await assembleModel(source, {
    threads: 1,
    slots: WORKER_SLOTS,
    weights: format,
  });
  const vocabBytes = new TextEncoder().encode(vocab);
  const models = new Map([[loaded.id, loaded]]);
  const files = new Map<string, ModelFile[]>([[loaded.id, [
    {
      name: "model.safetensors",
      size: weightBytes.length,
      open: () => Promise.resolve(weightBytes),
    },
    {
      name: "vocab.txt",
      size: vocabBytes.length,
      open: () => Promise.resolve(vocabBytes),
    },
  ]]]);
  console.log(
    `loaded ${loaded.id} (${loaded.family}, ${format ?? "checkpoint"} weights) in ${Date.now() - started} ms`,
  );
  const refused = new Map<string, ModelTooLargeError>();
  const names = list(env.R2_MODELS);
  if (names.size > 0 && !env.MODELS) {
    throw new Error(
      "R2_MODELS is set but wrangler.toml binds no MODELS bucket",
    );
  }
  for (const name of names) {
    const t = Date.now();
    try {
      const r2 = await loadR2Model(env.MODELS!, name, {
        leftBytes: budget - used,
        budgetBytes: budget,
        weights: format,
      });
      models.set(name, r2.loaded);
      files.set(name, r2.files);
      used += r2.bytes;
      console.log(
        `loaded ${name} from R2 (${r2.loaded.family}, ${(r2.bytes / 1e6).toFixed(1)} MB) in ${
          Date.now() - t
        } ms`,
      );
    } catch (err) {
      if (!(err instanceof ModelTooLargeError)) throw err;
      console.error(err.message);
      refused.set(name, err);
    }
  }
  return { models, files, refused, defaultModel: loaded.id, used };
}

/**
 * The answer while the isolate cannot serve: its models failed to load (a bad `WEIGHTS`, an R2
 * object missing or not a model). 503 with the reason, as JSON; the next request tries again.
 */
export function startFailed(err: unknown): Response {
  const message = `The Worker could not load its models: ${err instanceof Error ? err.message : String(err)}`;
  console.error(message);
  const error = { message, type: "server_error", param: null, code: "model_load_failed" };
  return Response.json({ error }, { status: 503 });
}

/** The Durable Object store when wrangler.toml binds it, else the isolate's memory. */
export function openStore(env: WorkerEnv): StateStore {
  const bindings = storeBindings(env);
  if (!bindings) return new MemoryStore();
  const ttlMs = (Number(env.SESSION_TTL_HOURS) || 168) * 3600 * 1000;
  return new DurableObjectStore(bindings, {
    ttlMs,
    blobShards: blobShards(env),
  });
}

/** A session service over the deployment's store and the isolate's models (`onPause`: see SessionServiceOptions). */
export function sessionService(
  env: WorkerEnv,
  served: ServedModels,
  onPause?: (id: string) => void,
): SessionService {
  return new SessionService({
    onPause,
    store: openStore(env),
    models: served.models,
    defaultModel: served.defaultModel,
    checkpointEvery: Number(env.CHECKPOINT_EVERY) || undefined,
    leaseMs: Number(env.LEASE_MS) || undefined,
    tokensPerInvocation: Number(env.TOKENS_PER_INVOCATION) ||
      DEFAULT_TOKENS_PER_INVOCATION,
    stateDType: stateDType(env),
  });
}

function stateDType(env: WorkerEnv): StateDType {
  return parseStateDType(env.STATE_DTYPE, "STATE_DTYPE");
}

/** The Hono app (as main.ts builds it) over `sessions`. */
export function workerApp(
  env: WorkerEnv,
  served: ServedModels,
  sessions: SessionService,
) {
  return createApp({
    models: served.models,
    defaultModel: served.defaultModel,
    createdAt: Math.floor(Date.now() / 1000),
    limits: {
      ...DEFAULT_LIMITS,
      maxTokens: Number(env.MAX_TOKENS) || DEFAULT_LIMITS.maxTokens,
    },
    sessions,
    apiKeys: list(env.API_KEYS),
    corsOrigins: list(env.CORS_ORIGINS),
    playground: playground(),
    modelFiles: served.files,
  });
}

/** The comma-separated names of a variable. */
function list(value?: string): Set<string> {
  return new Set((value ?? "").split(",").map((s) => s.trim()).filter(Boolean));
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
