// Every command-line tool as a user runs it (the deno task's own arguments): --help answers with
// the options, a mistake is one line and a non-zero exit (never a stack trace), long work shows
// plain progress lines when stderr is not a terminal.
import assert from "node:assert/strict";
import { startArgs } from "./helpers/server.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const FIX = new URL("./fixtures/rwkv7/", import.meta.url).pathname;

/** The deno arguments of `deno task NAME` (from deno.json). */
function taskArgs(name: string): string[] {
  if (name === "start") return startArgs();
  const task = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks[name];
  const [, ...args] = (typeof task === "string" ? task : task.command).split(/\s+/);
  return args;
}

async function run(task: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...taskArgs(task), ...args],
    cwd: ROOT,
    env: { STORE: "memory", PORT: "0", HOST: "127.0.0.1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function assertOneLine(r: { code: number; stderr: string }, code: number, message: RegExp) {
  assert.equal(r.code, code, r.stderr);
  // Progress lines ("loading DIR…") may come first; the mistake itself is one line.
  const lines = r.stderr.trim().split("\n").filter((l) => !/…$|^read [\d.]+ MB in \d+ ms$/.test(l));
  assert.equal(lines.length, 1, `expected one line, got:\n${r.stderr}`);
  assert.match(lines[0], message);
  assert.doesNotMatch(r.stderr, /Uncaught|^\s+at /m);
}

for (const task of ["start", "generate", "convert", "lambada", "bench"]) {
  Deno.test(`deno task ${task} --help prints its usage and options, and an unknown option is one line`, async () => {
    const help = await run(task, ["--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, new RegExp(`^Usage: deno task ${task}`));
    assert.ok(help.stdout.split("\n").length >= 3, help.stdout);
    assertOneLine(
      await run(task, ["--no-such-flag"]),
      2,
      /Unknown option '--no-such-flag' \(--help lists the options\)/,
    );
  });
}

Deno.test("user mistakes: one line saying what is wrong, non-zero exit", async () => {
  assertOneLine(
    await run("start", ["--port", "abc"]),
    1,
    /^--port must be a non-negative integer, got "abc"$/,
  );
  assertOneLine(await run("start", [], { LOG_FORMAT: "xml" }), 1, /^LOG_FORMAT must be text, json or off/);
  assertOneLine(await run("generate", []), 2, /^Missing --prompt TEXT/);
  assertOneLine(await run("generate", ["--prompt", "x", "--max-tokens", "lots"]), 1, /--max-tokens must be/);
  assertOneLine(
    await run("generate", ["--prompt", "x", "--model", "/nonexistent"]),
    1,
    /Cannot read model directory/,
  );
  assertOneLine(await run("convert", ["only-one.pth"]), 2, /^Expected IN\.pth OUT\.safetensors/);
  assertOneLine(await run("convert", ["/nonexistent.pth", "/tmp/x.safetensors"]), 1, /^No such checkpoint/);
  assertOneLine(await run("convert", [`${FIX}tiny/vocab.txt`, "/tmp/x.safetensors"]), 1, /vocab\.txt/);
  assertOneLine(
    await run("lambada", ["--data", "/nonexistent.jsonl"]),
    1,
    /^No LAMBADA data at \/nonexistent\.jsonl/,
  );
  assertOneLine(await run("lambada", ["--limit=-3"]), 1, /--limit must be a non-negative integer/);
  assertOneLine(
    await run("lambada", ["--limit", "-3"]),
    2,
    /^Option '--limit' argument is ambiguous \(--help/,
  );
});

Deno.test("convert creates the output folder and reports each phase as plain lines off a terminal", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/new/nested/model.safetensors`;
    const r = await run("convert", [`${FIX}tiny/model.pth`, out]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await Deno.stat(out)).size > 0);
    assert.ok(!r.stderr.includes("\x1b"), "no terminal escape codes off a terminal");
    assert.match(r.stderr, /^.*model\.pth: \d+ tensors, [\d.]+ MB$/m);
    assert.match(r.stderr, /^writing .*model\.safetensors \(\d+ MB\)…$/m);
    assert.match(r.stderr, /^wrote \d+ tensors \([\d.]+ MB\) to .*model\.safetensors in \d+ ms$/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lambada and generate say what they load and score, in plain lines off a terminal", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const data = `${dir}/lambada.jsonl`;
    const passages = ["In the beginning God created the heaven", "And God said let there be light"];
    await Deno.writeTextFile(data, passages.map((text) => JSON.stringify({ text })).join("\n"));
    const r = await run("lambada", ["--data", data]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^loading .*rwkv7-kjv-4m: reading \(\d+ MB\)…$/m);
    assert.match(r.stderr, /^loading .*rwkv7-kjv-4m: placing the weights…$/m);
    assert.match(r.stderr, /^loaded rwkv7-kjv-4m \(rwkv7, wasm backend\) in \d+ ms$/m);
    assert.match(r.stderr, /^scoring \(2 passages\)…$/m);
    assert.match(r.stdout, /^2 passages: ppl [\d.]+, acc [\d.]+%$/m);
    assert.ok(!r.stderr.includes("\x1b"), "no terminal escape codes off a terminal");
    const g = await run("generate", ["--prompt", "In the beginning", "--max-tokens", "5", "--seed", "1"]);
    assert.equal(g.code, 0, g.stderr);
    assert.ok(g.stdout.startsWith("In the beginning"));
    assert.match(g.stderr, /^loaded rwkv7-kjv-4m/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// `deno task` installs every npm package deno.json's import map names before it runs any task, so
// the map must name exactly what the user-facing tasks load: a test- or bench-only package there
// (onnxruntime-web is 139 MB) would be downloaded by `deno task start` on a fresh machine.
Deno.test("deno.json's import map names only the npm packages the user-facing tasks load", async () => {
  const config = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`));
  const packageOf = (spec: string) => spec.replace(/^npm:\/?/, "").match(/^(@[^/]+\/[^@/]+|[^@/]+)/)![1];
  const specs = Object.values(config.imports as Record<string, string>).filter((s) => s.startsWith("npm:"));
  const mapped = new Set(specs.map(packageOf));
  const reached = new Set<string>();
  for (const task of ["start", "generate", "convert", "lambada"]) {
    const command: string = config.tasks[task].command;
    const entry = command.split(/\s+/).find((a) => a.endsWith(".ts"))!;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const graph = JSON.parse(new TextDecoder().decode(out.stdout));
    for (const m of graph.modules as { specifier: string }[]) {
      if (m.specifier.startsWith("npm:")) reached.add(packageOf(m.specifier));
    }
  }
  assert.deepEqual([...mapped].sort(), [...reached].sort());
});
