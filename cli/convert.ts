/**
 * Converts an official PyTorch `.pth` state dict (e.g. BlinkDL's RWKV-7 files)
 * to safetensors, keeping names, shapes and dtypes:
 * `deno task convert IN.pth OUT.safetensors`. Reads the pickle as data only.
 *
 * @module
 */

import { readPth } from "../models/formats/pth.ts";
import { writeSafetensors } from "../models/mod.ts";

if (import.meta.main) {
  const [input, output] = Deno.args;
  if (!input || !output) {
    console.error("Usage: deno task convert IN.pth OUT.safetensors");
    Deno.exit(2);
  }
  const tensors = readPth(await Deno.readFile(input), input);
  await Deno.writeFile(output, writeSafetensors(tensors, { format: "pt", source: input.split("/").pop()! }));
  console.log(`wrote ${tensors.length} tensors to ${output}`);
}
