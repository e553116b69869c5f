import type { FromLocal, ToLocal } from "./local_protocol.ts";

/** The page's handle on its local engine: load a model, then `fetch` as from the server. */
export interface LocalEngine {
  /** The model loaded, once one is. */
  readonly model: string | undefined;
  /** Downloads and assembles `model` from `origin` (again only when another model is asked for). */
  load(
    origin: string,
    model: string,
    apiKey: string,
    onProgress: (done: number, total: number) => void,
  ): Promise<
    { ms: number; backend: string }
  >;
  /** Sends a request to the local app; the answer streams as the engine produces it. */
  fetch(path: string, init?: { method?: string; headers?: Record<string, string>; body?: BodyInit }): Promise<
    Response
  >;
}

/** Starts the local engine's Web Worker (the bundle at `workerUrl`). */
export function startLocalEngine(workerUrl: string): LocalEngine {
  const worker = new Worker(workerUrl, { type: "module" });
  let model: string | undefined;
  let loading:
    | { resolve: (v: { ms: number; backend: string }) => void; reject: (e: Error) => void }
    | undefined;
  let progress: (done: number, total: number) => void = () => {};
  const streams = new Map<number, {
    head: (res: Response) => void;
    fail: (e: Error) => void;
    controller?: ReadableStreamDefaultController<Uint8Array>;
  }>();
  let next = 0;
  worker.onmessage = (event: MessageEvent<FromLocal>) => {
    const m = event.data;
    if (m.type === "progress") progress(m.done, m.total);
    else if (m.type === "ready") (model = m.model, loading?.resolve({ ms: m.ms, backend: m.backend }));
    else if (m.type === "failed") loading?.reject(new Error(m.message));
    else {
      const s = streams.get(m.id);
      if (!s) return;
      if (m.type === "head") {
        const body = new ReadableStream<Uint8Array>({ start: (c) => void (s.controller = c) });
        s.head(new Response(body, { status: m.status, headers: m.headers }));
      } else if (m.type === "chunk") s.controller?.enqueue(m.bytes);
      else if (m.type === "end") (s.controller?.close(), streams.delete(m.id));
      else {
        const err = new Error(m.message);
        s.fail(err);
        s.controller?.error(err);
        streams.delete(m.id);
      }
    }
  };
  return {
    get model() {
      return model;
    },
    load(origin, wanted, apiKey, onProgress) {
      progress = onProgress;
      return new Promise((resolve, reject) => {
        loading = { resolve, reject };
        const message: ToLocal = { type: "load", origin, model: wanted, apiKey: apiKey || undefined };
        worker.postMessage(message);
      });
    },
    async fetch(path, init = {}) {
      const id = next++;
      const body = init.body === undefined ? undefined : await new Response(init.body).arrayBuffer();
      return await new Promise<Response>((head, fail) => {
        streams.set(id, { head, fail });
        const message: ToLocal = {
          type: "fetch",
          id,
          method: init.method ?? "GET",
          path,
          headers: init.headers ?? {},
          body,
        };
        worker.postMessage(message);
      });
    },
  };
}
