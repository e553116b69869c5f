// The committed kernels.wasm is what kernels.c builds to (so the source in the repo is what runs).
import assert from "node:assert/strict";
import { buildWasm } from "../kernels/wasm/build.ts";

const hasClang = await new Deno.Command("sh", { args: ["-c", "command -v clang && command -v wasm-ld"] })
  .output().then((o) => o.code === 0, () => false);

Deno.test({
  name: "kernels.wasm is up to date with kernels.c (deno task build:wasm)",
  ignore: !hasClang,
  fn: async () => {
    const out = await Deno.makeTempFile({ suffix: ".wasm" });
    await buildWasm(out);
    const built = await Deno.readFile(out);
    const committed = await Deno.readFile(new URL("../kernels/wasm/kernels.wasm", import.meta.url));
    assert.deepEqual(built, committed, "run deno task build:wasm and commit kernels.wasm");
    await Deno.remove(out);
  },
});
