/**
 * Converts an official PyTorch `.pth` state dict (e.g. BlinkDL's RWKV-7 files)
 * to safetensors, keeping names, shapes and dtypes:
 * `deno task convert IN.pth OUT.safetensors` (the output's folder is created).
 * Reads the pickle as data only.
 *
 * @module
 */

import { readPth } from "../models/formats/pth.ts";
import { writeSafetensors } from "../models/mod.ts";
import { exitOnUserMistakes, fail, parseCommand, USAGE_EXIT } from "./command.ts";
import { withProgress } from "./progress.ts";

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
  const bytes = await withProgress(`reading ${input}`, async () => {
    try {
      return await Deno.readFile(input);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) fail(`No such checkpoint: ${input}`);
      throw err;
    }
  }, (b, ms) => `read ${(b.length / 1e6).toFixed(1)} MB in ${ms} ms`);
  const tensors = await withProgress(
    "unpickling tensors",
    () => Promise.resolve(readPth(bytes, input)),
    (t, ms) => `found ${t.length} tensors in ${ms} ms`,
  );
  const dir = output.includes("/") ? output.slice(0, output.lastIndexOf("/")) : "";
  if (dir) await Deno.mkdir(dir, { recursive: true });
  await withProgress(`writing ${output}`, async () => {
    const out = writeSafetensors(tensors, { format: "pt", source: input.split("/").pop()! });
    await Deno.writeFile(output, out);
    return out.length;
  }, (n, ms) => `wrote ${tensors.length} tensors (${(n / 1e6).toFixed(1)} MB) to ${output} in ${ms} ms`);
}
