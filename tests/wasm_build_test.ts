// The committed kernels.wasm is what kernels.c builds to (so the source in the repo is what runs).
import assert from "node:assert/strict";
import { BUILDS, buildWasm, CLANG } from "../kernels/wasm/build.ts";

const hasClang = await new Deno.Command("sh", { args: ["-c", `command -v ${CLANG}`] })
  .output().then((o) => o.code === 0, () => false);

Deno.test({
  name: "the kernel modules are up to date with their C sources (deno task build:wasm)",
  ignore: !hasClang,
  fn: async () => {
    const out = await Deno.makeTempDir();
    await buildWasm(out);
    for (const name of Object.keys(BUILDS)) {
      const built = await Deno.readFile(`${out}/${name}`);
      const committed = await Deno.readFile(new URL(`../kernels/wasm/${name}`, import.meta.url));
      assert.deepEqual(built, committed, `run deno task build:wasm and commit ${name}`);
    }
    await Deno.remove(out, { recursive: true });
  },
});
