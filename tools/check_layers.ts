/**
 * Keeps dependencies flowing one way: routes → engine → models → kernels, and only
 * the engine uses the store; and keeps the core runtime-neutral: no `Deno.` in routes, engine,
 * models, kernels or tokenizers outside the named adapter files (so the same code runs on
 * workerd and in a browser).
 * Fails (exit 1) listing every import that goes against the flow.
 *
 *   deno run --allow-read tools/check_layers.ts
 *
 * @module
 */

/** Which top-level folders each folder may import from (besides itself). */
const ALLOWED: Record<string, string[]> = {
  kernels: [],
  tokenizers: [],
  store: [],
  models: ["kernels", "tokenizers"],
  engine: ["models", "kernels", "tokenizers", "store"],
  routes: ["engine", "models", "kernels", "tokenizers"],
  cli: ["engine", "models", "kernels", "tokenizers", "routes"],
  playground: ["engine", "models", "kernels", "tokenizers", "routes", "store"],
};

/** The runtime-neutral folders, and the only files in them that may use the Deno namespace. */
const NEUTRAL = ["routes", "engine", "models", "kernels", "tokenizers"];
const DENO_ADAPTERS = new Set([
  "models/load.ts", // reads a model directory, then hands the bytes to models/assemble.ts
  "kernels/wasm/build.ts", // the kernel build tool (runs clang); never imported by the server
]);

const root = new URL("../", import.meta.url).pathname;
const problems: string[] = [];

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await walk(p));
    else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) out.push(p);
  }
  return out;
}

for (const [layer, allowed] of Object.entries(ALLOWED)) {
  for (const file of await walk(`${root}${layer}`)) {
    const text = await Deno.readTextFile(file);
    for (const m of text.matchAll(/from\s+"(\.[^"]+)"/g)) {
      const target = new URL(m[1], `file://${file}`).pathname.slice(root.length);
      const top = target.split("/")[0];
      if (top !== layer && top in ALLOWED && !allowed.includes(top)) {
        problems.push(`${file.slice(root.length)} imports ${target}: ${layer} may not depend on ${top}`);
      }
    }
    const relative = file.slice(root.length);
    const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
    if (NEUTRAL.includes(layer) && !DENO_ADAPTERS.has(relative) && /\bDeno\./.test(code)) {
      problems.push(`${relative} uses the Deno namespace: only ${[...DENO_ADAPTERS].join(", ")} may`);
    }
    if (layer !== "routes" && layer !== "cli" && /from\s+"hono/.test(text)) {
      problems.push(`${file.slice(root.length)} imports hono: only routes speak HTTP`);
    }
  }
}

if (problems.length) {
  console.error(problems.join("\n"));
  Deno.exit(1);
}
console.log("layers ok: routes → engine → models → kernels; no Deno outside the adapters");
