/**
 * Starts the HTTP server: `deno task start [--model DIR] [--port N] [--host H] [--store PATH]`
 * (or the MODEL, PORT, HOST, STORE environment variables; see the README for the rest).
 * Only wires pieces together.
 *
 * @module
 */

import { exitOnUserMistakes, parseCommand } from "./cli/command.ts";
import { DEFAULT_MODEL_DIR, intFlag, stateDTypeFlag, weightsFlag } from "./cli/defaults.ts";
import { loadProgress } from "./cli/load.ts";
import { DEFAULT_STEPS_AHEAD, schedulerOf, SessionService } from "./engine/mod.ts";
import { MemoryStore, openDenoKvStore, openRedisStore, type StateStore } from "./store/mod.ts";
import { type BackendName, parsePrefillForm } from "./kernels/mod.ts";
import { loadModel, modelDirectoryFiles, type ModelFile, ModelLoadError } from "./models/mod.ts";
import { readPlayground } from "./playground/assets.ts";
import { createApp, DEFAULT_LIMITS, type LogFormat } from "./routes/mod.ts";
import { TokenizerLoadError } from "./tokenizers/mod.ts";

const USAGE =
  `Usage: deno task start [--model DIR]... [--port N] [--host H] [--store PATH|memory|redis://HOST:PORT/DB]
                       [--backend wasm|webgpu|reference|auto] [--threads N] [--weights int8|q4]
                       [--state-dtype f32|bf16]
Environment: MODEL (comma-separated dirs), PORT (default 8000), HOST (default 0.0.0.0),
  WEIGHTS (int8 or q4: quantize the models' matrices as they load; default: the checkpoint's precision),
  STATE_DTYPE (f32 or bf16: how checkpoints store session states; bf16 halves them and rounds the
  live state at each checkpoint so resumes stay exact; default f32),
  STORE (Deno KV file, default sessions.kv; "memory" keeps sessions in this process only;
  redis://[:password@]host:port/db shares sessions between instances, with live streams),
  API_KEYS (comma-separated; none: no authentication), SESSION_TTL_HOURS (default 168),
  LOG_FORMAT (text, json or off: one line per request; default text),
  CORS_ORIGINS (comma-separated origins browsers may call from, "*" for any; default none),
  CHECKPOINT_EVERY (tokens, default 16), LEASE_MS (generation lease, default 10000),
  STEPS_AHEAD (WebGPU: decode steps a plain greedy generation keeps in flight, default 3; 0: none),
  WEBGPU_PREFILL (measure, chunked or recurrent: how RetNet's and Mamba-2's prefill runs on WebGPU;
  default measure: each form timed once on the adapter, the faster kept),
  TOKENS_PER_INVOCATION (a session generation pauses after this many tokens, checkpointed, with an
  SSE "paused" event; the next GET .../stream continues it; default unlimited),
  MAX_PROMPT_TOKENS (16384), MAX_TOKENS (4096), DRAIN_MS (shutdown grace, default 30000),
  Quotas per API key (per client address without keys; 0: unlimited): QUOTA_SESSIONS (live
  sessions, default 1000), QUOTA_STORED_MB (state bytes stored, default 2048), QUOTA_RPM
  (requests per minute per instance, default 600)`;

// Until the server listens, a bad flag or model directory ends startup with one line, not a stack trace.
const stopExitingOnMistakes = exitOnUserMistakes();
const { values } = parseCommand(USAGE, {
  model: { type: "string", multiple: true },
  port: { type: "string" },
  host: { type: "string" },
  backend: { type: "string" },
  store: { type: "string" },
  threads: { type: "string" },
  weights: { type: "string" },
  "state-dtype": { type: "string" },
});

const dirs = values.model ?? Deno.env.get("MODEL")?.split(",").filter(Boolean) ?? [DEFAULT_MODEL_DIR];
const port = intFlag("port", values.port ?? Deno.env.get("PORT"), 8000);
const hostname = values.host ?? Deno.env.get("HOST") ?? "0.0.0.0";
const backend = (values.backend ?? Deno.env.get("BACKEND")) as BackendName | "auto" | undefined;
const threadsFlag = values.threads ?? Deno.env.get("THREADS");
const threads = threadsFlag ? intFlag("threads", threadsFlag, 1) || 1 : undefined;
const weights = weightsFlag(values.weights ?? Deno.env.get("WEIGHTS"));
const stateDType = stateDTypeFlag(values["state-dtype"] ?? Deno.env.get("STATE_DTYPE"));
const prefillEnv = Deno.env.get("WEBGPU_PREFILL");
const prefill = prefillEnv ? parsePrefillForm(prefillEnv) : undefined;
const stepsAhead = intFlag("STEPS_AHEAD", Deno.env.get("STEPS_AHEAD"), DEFAULT_STEPS_AHEAD);

const models = new Map();
const modelFiles = new Map<string, ModelFile[]>();
for (const dir of dirs) {
  const started = performance.now();
  // MB read with rate and ETA, then each later stage, on stderr while a model loads; cleared when done.
  const shown = loadProgress(dir);
  const loaded = await loadModel(dir, { backend, threads, weights, prefill, onProgress: shown.onProgress })
    .catch((err) => {
      shown.end();
      if (err instanceof ModelLoadError || err instanceof TokenizerLoadError) exitWith(err.message);
      throw err;
    });
  shown.end();
  schedulerOf(loaded.model).stepsAhead = stepsAhead;
  models.set(loaded.id, loaded);
  modelFiles.set(loaded.id, await modelDirectoryFiles(dir, loaded));
  const ms = Math.round(performance.now() - started);
  const b = loaded.model.backend;
  console.log(
    `loaded ${loaded.id} (${loaded.family}, ${b.name} backend, ${b.threads} thread(s)${
      weights ? `, ${weights} weights` : ""
    }) in ${ms} ms`,
  );
  if (loaded.backendChoice) console.log(`backend auto chose ${b.name}: ${loaded.backendChoice}`);
}

const env = (name: string) => Deno.env.get(name);
const storePath = values.store ?? env("STORE") ?? "sessions.kv";
// On Deno Deploy (it sets DENO_DEPLOYMENT_ID) the file system is read-only: Deno KV is the
// deployment's own database, opened without a path, unless --store names another store.
const onDeploy = env("DENO_DEPLOYMENT_ID") !== undefined;
const kvPath = onDeploy && !values.store ? undefined : storePath;
const ttlMs = intFlag("SESSION_TTL_HOURS", env("SESSION_TTL_HOURS"), 168) * 3600 * 1000;
const store: StateStore = storePath === "memory"
  ? new MemoryStore({ ttlMs })
  : storePath.startsWith("redis://")
  ? await openRedisStore(storePath, { ttlMs }).catch((err) => exitWith(err.message))
  : await openDenoKvStore(kvPath, { ttlMs });
const defaultModel = models.keys().next().value!;
const sessions = new SessionService({
  store,
  models,
  defaultModel,
  checkpointEvery: intFlag("CHECKPOINT_EVERY", env("CHECKPOINT_EVERY"), 16) || 16,
  leaseMs: intFlag("LEASE_MS", env("LEASE_MS"), 10_000) || 10_000,
  tokensPerInvocation: intFlag("TOKENS_PER_INVOCATION", env("TOKENS_PER_INVOCATION"), 0) || undefined,
  stateDType,
  quota: {
    sessions: intFlag("QUOTA_SESSIONS", env("QUOTA_SESSIONS"), 1000),
    bytes: intFlag("QUOTA_STORED_MB", env("QUOTA_STORED_MB"), 2048) * 1024 * 1024,
  },
});
const app = createApp({
  models,
  defaultModel,
  createdAt: Math.floor(Date.now() / 1000),
  limits: {
    maxPromptTokens: intFlag("MAX_PROMPT_TOKENS", env("MAX_PROMPT_TOKENS"), DEFAULT_LIMITS.maxPromptTokens),
    maxTokens: intFlag("MAX_TOKENS", env("MAX_TOKENS"), DEFAULT_LIMITS.maxTokens),
    requestsPerMinute: intFlag("QUOTA_RPM", env("QUOTA_RPM"), DEFAULT_LIMITS.requestsPerMinute),
  },
  sessions,
  shutdown: sessions.closing,
  apiKeys: new Set((env("API_KEYS") ?? "").split(",").map((k) => k.trim()).filter(Boolean)),
  log: logFormat(env("LOG_FORMAT")),
  corsOrigins: new Set((env("CORS_ORIGINS") ?? "").split(",").map((o) => o.trim()).filter(Boolean)),
  playground: await readPlayground(),
  modelFiles,
});
const where = storePath === "memory"
  ? "memory"
  : storePath.startsWith("redis://")
  ? `Redis (${storePath.replace(/\/\/[^@/]*@/, "//")})`
  : kvPath === undefined
  ? "Deno KV (the deployment's database: Deno.openKv() with no path)"
  : `Deno KV (${kvPath})`;
console.log(`sessions in ${where}${stateDType === "bf16" ? ", states stored as bf16" : ""}`);
// Collect state left by expired sessions or interrupted writes every hour. A long-lived process
// also sweeps as it starts; on Deno Deploy, whose isolates start often, Deno.cron runs it instead
// (or, where cron is unavailable, a timer in isolates that live an hour).
const sweep = () => sessions.sweep().catch((err) => console.error("sweep failed:", err));
if (onDeploy && typeof Deno.cron === "function") {
  Deno.cron("sweep expired session state", "17 * * * *", async () => void await sweep());
} else {
  if (!onDeploy) sweep();
  Deno.unrefTimer(setInterval(sweep, 3600 * 1000));
}

const server = (() => {
  try {
    return Deno.serve({
      port,
      hostname,
      onListen: ({ hostname, port }) => {
        stopExitingOnMistakes();
        console.log(`listening on ${answeringUrl(hostname, port)}`);
      },
    }, app.fetch);
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) {
      exitWith(
        `Port ${port} is in use on ${hostname}: pass another with --port or PORT (0 picks a free one)`,
      );
    }
    throw err;
  }
})();

// The last line of defence: a rejected promise nobody awaited is a bug to log, not a reason to
// drop every other request and stream this process serves.
globalThis.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  console.error("unhandled rejection (the server keeps running):", e.reason);
});

// On SIGINT/SIGTERM: stop taking requests and let running generations finish, for at most DRAIN_MS.
// Past it, each generation still running checkpoints where it is, releases its lease (another
// instance resumes it at once) and ends its streams with an error event naming the reason.
const drainMs = intFlag("DRAIN_MS", env("DRAIN_MS"), 30_000);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: finishing running generations (at most ${drainMs} ms)`);
  const closed = server.shutdown();
  const drained = await Promise.race([
    Promise.all([closed, sessions.drain()]).then(() => true),
    sleep(drainMs),
  ]);
  if (!drained) {
    console.log("drain deadline reached: saving and handing over what still runs");
    await Promise.race([sessions.stop(), sleep(10_000)]);
    await Promise.race([closed, sleep(2_000)]);
  }
  store.close();
  for (const loaded of models.values()) loaded.model.backend.close();
  Deno.exit(0);
};
for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, () => stop(signal));

/** A URL a client on this machine can open: a wildcard address becomes localhost; IPv6 in brackets. */
function answeringUrl(hostname: string, port: number): string {
  const host = hostname === "0.0.0.0" || hostname === "::" ? "localhost" : hostname;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}/`;
}

/** LOG_FORMAT: text (default), json or off. */
function logFormat(value: string | undefined): LogFormat {
  if (value === undefined || value === "") return "text";
  if (value === "text" || value === "json" || value === "off") return value;
  exitWith(`LOG_FORMAT must be text, json or off, got "${value}"`);
}

/** Ends startup with a message the user can act on (a bad model directory, a busy port), not a stack trace. */
function exitWith(message: string): never {
  console.error(message);
  Deno.exit(1);
}
