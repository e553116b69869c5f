/**
 * Starts the HTTP server: `deno task start [--model DIR] [--port N] [--host H]`
 * (or the MODEL, PORT, HOST environment variables). Only wires pieces together.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DEFAULT_MODEL_DIR, intFlag } from "./cli/defaults.ts";
import type { BackendName } from "./kernels/mod.ts";
import { loadModel } from "./models/mod.ts";
import { createApp, DEFAULT_LIMITS } from "./routes/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string", multiple: true },
    port: { type: "string" },
    host: { type: "string" },
    backend: { type: "string" },
    help: { type: "boolean" },
  },
});

if (values.help) {
  console.log(`Usage: deno task start [--model DIR]... [--port N] [--host H] [--backend wasm|reference]
Environment: MODEL (comma-separated dirs), PORT (default 8000), HOST (default 0.0.0.0)`);
  Deno.exit(0);
}

const dirs = values.model ?? Deno.env.get("MODEL")?.split(",").filter(Boolean) ?? [DEFAULT_MODEL_DIR];
const port = intFlag("port", values.port ?? Deno.env.get("PORT"), 8000);
const hostname = values.host ?? Deno.env.get("HOST") ?? "0.0.0.0";
const backend = (values.backend ?? Deno.env.get("BACKEND")) as BackendName | undefined;

const models = new Map();
for (const dir of dirs) {
  const started = performance.now();
  const loaded = await loadModel(dir, { backend });
  models.set(loaded.id, loaded);
  const ms = Math.round(performance.now() - started);
  console.log(`loaded ${loaded.id} (${loaded.family}, ${loaded.model.backend.name} backend) in ${ms} ms`);
}

const app = createApp({
  models,
  defaultModel: models.keys().next().value!,
  createdAt: Math.floor(Date.now() / 1000),
  limits: DEFAULT_LIMITS,
});

Deno.serve({
  port,
  hostname,
  onListen: ({ hostname, port }) => console.log(`listening on http://${hostname}:${port}/v1`),
}, app.fetch);
