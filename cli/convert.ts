/**
 * Converts an official PyTorch `.pth` state dict (e.g. BlinkDL's RWKV-7 files)
 * to safetensors, keeping names, shapes and dtypes:
 * `deno task convert IN.pth OUT.safetensors` (the output's folder is created).
 * Reads the pickle as data only, and streams: one tensor is in memory at a time, so peak memory
 * is about the largest tensor, not the checkpoint. The output appears only once it is complete.
 *
 * @module
 */

import { listPth } from "../models/formats/pth.ts";
import { safetensorsHeader } from "../models/mod.ts";
import { exitOnUserMistakes, fail, parseCommand, USAGE_EXIT } from "./command.ts";
import { openFileSource } from "./file_source.ts";
import { Progress } from "./progress.ts";

const USAGE = `Usage: deno task convert IN.pth OUT.safetensors
Converts a PyTorch state dict (torch.save zip archive) to safetensors, keeping names, shapes and
dtypes; creates OUT's folder. Put OUT in a model directory with its tokenizer to serve it.
  -h, --help   this text`;

if (import.meta.main) {
  exitOnUserMistakes();
  const { positionals } = parseCommand(USAGE, {});
  const [input, output, ...extra] = positionals;
  if (!input || !output || extra.length) {
    fail("Expected IN.pth OUT.safetensors (--help for details)", USAGE_EXIT);
  }
  if (!output.endsWith(".safetensors")) {
    fail(`The output should end in .safetensors, got ${output}`, USAGE_EXIT);
  }
  await convert(input, output);
}

async function convert(input: string, output: string): Promise<void> {
  let src;
  try {
    src = openFileSource(input);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) fail(`No such checkpoint: ${input}`);
    throw err;
  }
  using source = src;
  const started = performance.now();
  const tensors = listPth(source, input);
  const total = tensors.reduce((n, t) => n + t.byteLength, 0);
  console.error(`${input}: ${tensors.length} tensors, ${(total / 1e6).toFixed(1)} MB`);
  const dir = output.includes("/") ? output.slice(0, output.lastIndexOf("/")) : "";
  if (dir) await Deno.mkdir(dir, { recursive: true });
  // Written beside the output and renamed at the end: an interrupted run leaves no truncated file.
  const partial = `${output}.partial`;
  const file = await Deno.open(partial, { write: true, create: true, truncate: true });
  const progress = new Progress(`writing ${output}`, { total: Math.round(total / 1e6), unit: "MB" });
  try {
    await writeAll(file, safetensorsHeader(tensors, { format: "pt", source: input.split("/").pop()! }));
    let written = 0;
    for (const t of tensors) {
      await writeAll(file, t.read());
      const before = Math.round(written / 1e6);
      written += t.byteLength;
      progress.tick(Math.round(written / 1e6) - before);
    }
    file.close();
    await Deno.rename(partial, output);
  } catch (err) {
    progress.clear();
    try {
      file.close();
    } catch { /* already closed */ }
    await Deno.remove(partial).catch(() => {});
    throw err;
  }
  const ms = Math.round(performance.now() - started);
  progress.done(`wrote ${tensors.length} tensors (${(total / 1e6).toFixed(1)} MB) to ${output} in ${ms} ms`);
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
}
