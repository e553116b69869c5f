/**
 * Measures models under workerd (`wrangler dev`, offline, a fresh process per row): the first
 * request of a fresh isolate (the model assembled in it), time to the first streamed token warm
 * (median of 5), and the resident memory of the workerd process running the Worker (wrangler's
 * proxy in front of it is another workerd, left out) from /proc: VmRSS before the first request,
 * VmHWM after 4 completions and a 64-token session generation. Rows: the bundled default
 * model in bf16, int8 and q4 (`WEIGHTS`), then random RWKV-7 models served from local R2, the
 * largest of a list of shapes whose computed footprint (weight file + WASM memory, as
 * `MEMORY_BUDGET_MB` counts it) fits 128 MB, per format. Needs `deno task workers:setup`.
 *
 *   deno run -A bench/workers_fit.ts            # every row
 *   deno run -A bench/workers_fit.ts --only default
 *
 * @module
 */

import { backendSize, FAMILIES, writeSafetensors } from "../models/mod.ts";
import { randomRwkv7, type Rwkv7Shape } from "./random_rwkv7.ts";
import { modelFootprint, WORKER_SLOTS } from "../workers/r2_models.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const WRANGLER = `${ROOT}node_modules/.bin/wrangler`;
const BUDGET = 128 * 1024 * 1024;
const ENV = { CI: "true", WRANGLER_SEND_METRICS: "false" };

/** Shapes tried for R2 (layers × width, vocabulary), fewest parameters first; the 0.1 B is 12 × 768 × 65536. */
const SHAPES: [string, Rwkv7Shape][] = [
  ["12 × 256, vocab 16384", { nLayer: 12, nEmbd: 256, headSize: 64, vocab: 16384 }],
  ["12 × 384, vocab 16384", { nLayer: 12, nEmbd: 384, headSize: 64, vocab: 16384 }],
  ["12 × 256, vocab 65536", { nLayer: 12, nEmbd: 256, headSize: 64, vocab: 65536 }],
  ["12 × 512, vocab 16384", { nLayer: 12, nEmbd: 512, headSize: 64, vocab: 16384 }],
  ["12 × 384, vocab 65536", { nLayer: 12, nEmbd: 384, headSize: 64, vocab: 65536 }],
  ["12 × 768, vocab 65536 (0.1 B)", { nLayer: 12, nEmbd: 768, headSize: 64, vocab: 65536 }],
];

interface Row {
  name: string;
  weights: string;
  footprintMb: number;
  coldMs: number;
  ttftMs: number;
  idleRssMb: number;
  peakMb: number;
  afterRssMb: number;
}

function freePort(): number {
  const listener = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * The workerd processes below `pid` (wrangler starts them through node) that run the Worker: not
 * the one in front of them, which listens on `port` (wrangler's proxy, ~60 MB, no user code).
 */
function workerdUnder(pid: number, port: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...children.get(ppid) ?? [], Number(e.name)]);
    } catch { /* gone */ }
  }
  const found: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      try {
        const proxy = Deno.readTextFileSync(`/proc/${c}/cmdline`).includes(`entry=127.0.0.1:${port}\0`);
        if (Deno.readTextFileSync(`/proc/${c}/comm`).trim() === "workerd" && !proxy) found.push(c);
      } catch { /* gone */ }
      walk(c);
    }
  };
  walk(pid);
  return found;
}

/** VmRSS and VmHWM of `pids` together, in MB. */
function memory(pids: number[]): { rss: number; hwm: number } {
  let rss = 0, hwm = 0;
  for (const pid of pids) {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    rss += Number(status.match(/VmRSS:\s+(\d+)/)![1]) * 1024;
    hwm += Number(status.match(/VmHWM:\s+(\d+)/)![1]) * 1024;
  }
  return { rss: rss / 1e6, hwm: hwm / 1e6 };
}

async function wrangler(args: string[]): Promise<void> {
  const out = await new Deno.Command(WRANGLER, { args, cwd: ROOT, env: ENV, stdin: "null" }).output();
  if (!out.success) throw new Error(`wrangler ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

const post = (url: string, body: unknown) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** Milliseconds until the first token of a streamed completion. */
async function timeToFirstToken(base: string, model: string): Promise<number> {
  const t = performance.now();
  const res = await post(`${base}/v1/completions`, {
    model,
    prompt: "And God said",
    max_tokens: 8,
    stream: true,
  });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes('"text"')) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`no token streamed: ${text}`);
    text += value;
  }
  const ms = performance.now() - t;
  while (!(await reader.read()).done) { /* read to the end: a cancelled stream's connection is not reused */ }
  return ms;
}

/** One row: a fresh `wrangler dev` with `vars`, measured as the module documentation says. */
async function measure(
  name: string,
  model: string,
  vars: Record<string, string>,
  persist: string,
): Promise<Row> {
  const port = freePort();
  const args = ["dev", "--port", String(port), "--ip", "127.0.0.1", "--persist-to", persist];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const child = new Deno.Command("setsid", {
    args: [WRANGLER, ...args],
    cwd: ROOT,
    env: ENV,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const base = `http://127.0.0.1:${port}`;
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("Ready on")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`wrangler dev ended: ${seen}`);
      seen += value;
    }
    (async () => {
      while (!(await reader.read()).done) { /* drain */ }
    })();
    const pids = workerdUnder(child.pid, port);
    if (pids.length === 0) throw new Error("no workerd process found under wrangler");
    const idle = memory(pids);
    const t = performance.now();
    const first = await post(`${base}/v1/completions`, { model, prompt: "In the beginning", max_tokens: 1 });
    const body = await first.json();
    if (!first.ok) throw new Error(`${name}: ${JSON.stringify(body)}`);
    const coldMs = performance.now() - t;
    const ttfts = [];
    for (let i = 0; i < 5; i++) ttfts.push(await timeToFirstToken(base, model));
    ttfts.sort((a, b) => a - b);
    for (let i = 0; i < 4; i++) {
      await (await post(`${base}/v1/completions`, { model, prompt: "And it came to pass", max_tokens: 64 }))
        .json();
    }
    const session = await (await post(`${base}/v1/sessions`, { model, prompt: "And God said" })).json();
    await (await post(`${base}/v1/sessions/${session.id}/generate`, { max_tokens: 64 })).text();
    const after = memory(pids);
    return {
      name,
      weights: vars.WEIGHTS || "bf16",
      footprintMb: 0,
      coldMs,
      ttftMs: ttfts[2],
      idleRssMb: idle.rss,
      peakMb: after.hwm,
      afterRssMb: after.rss,
    };
  } finally {
    try {
      Deno.kill(-child.pid, "SIGINT");
    } catch { /* gone */ }
    await child.status;
  }
}

/** Writes a random RWKV-7 of `shape` (bf16) with the default vocabulary into the local bucket under `key`. */
async function seedR2(persist: string, key: string, shape: Rwkv7Shape): Promise<Uint8Array> {
  const bytes = writeSafetensors(randomRwkv7(shape, "bf16", 1).values());
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(`${dir}/model.safetensors`, bytes);
  await wrangler([
    "r2",
    "object",
    "put",
    `recurrent-models/${key}/model.safetensors`,
    "--file",
    `${dir}/model.safetensors`,
    "--local",
    "--persist-to",
    persist,
  ]);
  await wrangler([
    "r2",
    "object",
    "put",
    `recurrent-models/${key}/vocab.txt`,
    "--file",
    `${ROOT}assets/rwkv7-kjv-4m/vocab.txt`,
    "--local",
    "--persist-to",
    persist,
  ]);
  await Deno.remove(dir, { recursive: true });
  return bytes;
}

const only = Deno.args.includes("--only") ? Deno.args[Deno.args.indexOf("--only") + 1] : undefined;
const rows: Row[] = [];
const defaultBytes = await Deno.readFile(`${ROOT}assets/rwkv7-kjv-4m/model.safetensors`);
const footprint = (bytes: Uint8Array, weights?: "q8" | "q4") =>
  modelFootprint({
    where: "",
    weights: { name: "model.safetensors", bytes: bytes as Uint8Array<ArrayBuffer> },
  }, weights)
    .bytes / 1e6;

if (!only || only === "default") {
  for (const [weights, format] of [["", undefined], ["int8", "q8"], ["q4", "q4"]] as const) {
    const persist = await Deno.makeTempDir();
    console.error(`measuring the default model, ${weights || "bf16"}…`);
    const row = await measure("rwkv7-kjv-4m (bundled)", "rwkv7-kjv-4m", { WEIGHTS: weights }, persist);
    rows.push({ ...row, footprintMb: footprint(defaultBytes, format) });
    await Deno.remove(persist, { recursive: true });
  }
}
if (!only || only === "r2") {
  for (const [weights, format] of [["", undefined], ["q4", "q4"]] as const) {
    // The largest shape whose computed footprint, beside the bundled default model's, fits.
    const left = BUDGET - footprint(defaultBytes, format) * 1e6;
    let pick: [string, Rwkv7Shape, number] | undefined;
    for (const [name, shape] of SHAPES) {
      // As modelFootprint counts it, from sizes alone (no weights made for shapes that do not fit).
      const sizes = randomRwkv7(shape, "bf16", 1, true);
      const file = [...sizes.values()].reduce((n, t) => n + t.bytes.byteLength, 0);
      const wasm = backendSize(FAMILIES.get("rwkv7")!, sizes, {
        chunk: 64,
        slots: WORKER_SLOTS,
        weights: format,
      });
      const bytes = file + wasm.capacity;
      if (bytes <= left) pick = [name, shape, bytes / 1e6];
    }
    if (!pick) continue;
    const persist = await Deno.makeTempDir();
    console.error(`measuring RWKV-7 ${pick[0]} from R2, ${weights || "bf16"}…`);
    await seedR2(persist, "big", pick[1]);
    const row = await measure(
      `RWKV-7 ${pick[0]} (random, R2)`,
      "big",
      { WEIGHTS: weights, R2_MODELS: "big" },
      persist,
    );
    rows.push({ ...row, footprintMb: pick[2] });
    await Deno.remove(persist, { recursive: true });
  }
}

const f = (n: number) => n.toFixed(0);
console.log(`workerd ${new Date().toISOString().slice(0, 10)}, ${navigator.hardwareConcurrency} CPUs`);
console.log(
  "| model | weights | computed footprint (MB) | first request, cold (ms) | first token, warm (ms) | workerd RSS: idle → peak, after (MB) |",
);
console.log("| --- | --- | ---: | ---: | ---: | ---: |");
for (const r of rows) {
  console.log(
    `| ${r.name} | ${r.weights} | ${f(r.footprintMb)} | ${f(r.coldMs)} | ${f(r.ttftMs)} | ${
      f(r.idleRssMb)
    } → ${f(r.peakMb)}, ${f(r.afterRssMb)} |`,
  );
}
