/**
 * The playground's local engine, a Web Worker: downloads a served model's files (the browser's
 * HTTP cache keeps them), assembles the same model on the same WASM kernels, and answers the
 * server's own API (the same Hono app, sessions in memory) to requests the page posts to it. A
 * session continues here from the state blob the server exported, with the same seeded sampler,
 * so it generates the tokens the server would have.
 *
 * Bundled for the browser by `deno task build:playground` into playground/dist/local_worker.js.
 *
 * @module
 */

import { provideKernelModule, wasmRelaxedSimdSupported } from "../kernels/mod.ts";
import { assembleModel, readModelSource } from "../models/mod.ts";
import { SessionService } from "../engine/mod.ts";
import { MemoryStore } from "../store/memory.ts";
import { createApp, DEFAULT_LIMITS } from "../routes/mod.ts";
import type { FromLocal, ToLocal } from "./local_protocol.ts";

/** The parts of a worker's global scope used here. */
interface WorkerScope {
  onmessage: ((event: MessageEvent<ToLocal>) => void) | null;
  postMessage(message: FromLocal, transfer?: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;
let app: ReturnType<typeof createApp> | undefined;

scope.onmessage = (event) => {
  const message = event.data;
  if (message.type === "load") {
    load(message).catch((err) => scope.postMessage({ type: "failed", message: String(err?.message ?? err) }));
  } else answer(message);
};

async function load(request: Extract<ToLocal, { type: "load" }>): Promise<void> {
  const started = performance.now();
  const headers: Record<string, string> = request.apiKey ? { authorization: `Bearer ${request.apiKey}` } : {};
  const get = async (path: string) => {
    const res = await fetch(new URL(path, request.origin), { headers });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
    return res;
  };
  // The relaxed-SIMD build where the browser has it, else plain SIMD128 (as the server picks).
  const build = wasmRelaxedSimdSupported() ? "single" : "baseline";
  const kernels = new URL(
    `/playground/${build === "single" ? "kernels" : "kernels_baseline"}.wasm`,
    request.origin,
  );
  provideKernelModule(await WebAssembly.compileStreaming(fetch(kernels)), build);
  const manifest = await (await get(`/v1/models/${request.model}/files`)).json() as {
    data: { name: string; bytes: number; url: string }[];
  };
  const total = manifest.data.reduce((sum, f) => sum + f.bytes, 0);
  let done = 0;
  const files = new Map<string, Uint8Array<ArrayBuffer>>();
  for (const file of manifest.data) {
    const reader = (await get(file.url)).body!.getReader();
    const out = new Uint8Array(file.bytes);
    let at = 0;
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      out.set(r.value, at);
      at += r.value.length;
      done += r.value.length;
      scope.postMessage({ type: "progress", done, total });
    }
    files.set(file.name, out);
  }
  const source = await readModelSource(request.model, [...files.keys()], (name) => {
    const bytes = files.get(name);
    return bytes ? Promise.resolve(bytes) : Promise.reject(new Error(`${name} was not downloaded`));
  });
  const loaded = await assembleModel(source, { id: request.model, threads: 1, slots: 2 });
  const models = new Map([[loaded.id, loaded]]);
  const sessions = new SessionService({ store: new MemoryStore(), models, defaultModel: loaded.id });
  app = createApp({
    models,
    defaultModel: loaded.id,
    createdAt: Math.floor(Date.now() / 1000),
    limits: DEFAULT_LIMITS,
    sessions,
    apiKeys: new Set(),
  });
  const ms = Math.round(performance.now() - started);
  scope.postMessage({ type: "ready", model: loaded.id, ms, backend: loaded.model.backend.name });
}

async function answer(request: Extract<ToLocal, { type: "fetch" }>): Promise<void> {
  const { id } = request;
  try {
    if (!app) throw new Error("No model is loaded in this browser yet");
    const res = await app.fetch(
      new Request(`http://local${request.path}`, {
        method: request.method,
        headers: request.headers,
        body: request.body,
      }),
    );
    scope.postMessage({ type: "head", id, status: res.status, headers: Object.fromEntries(res.headers) });
    if (res.body) {
      const reader = res.body.getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        scope.postMessage({ type: "chunk", id, bytes: r.value });
      }
    }
    scope.postMessage({ type: "end", id });
  } catch (err) {
    scope.postMessage({ type: "error", id, message: String((err as Error)?.message ?? err) });
  }
}
