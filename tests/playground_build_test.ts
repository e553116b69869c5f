// The committed playground bundles (playground/dist/) are what their sources build to now: the
// server and the Workers bundle serve them as committed, with no build step at start.
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;

Deno.test("playground/dist/ matches a fresh build of playground/*.ts (deno task build:playground)", async () => {
  const out = await Deno.makeTempDir();
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-run", "--allow-env", "playground/build.ts", out],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  for (
    const name of ["app.js", "local_worker.js", "kernels.wasm.base64.txt", "kernels_baseline.wasm.base64.txt"]
  ) {
    const built = await Deno.readFile(`${out}/${name}`);
    const committed = await Deno.readFile(`${ROOT}playground/dist/${name}`);
    assert.ok(
      built.length === committed.length && built.every((b, i) => b === committed[i]),
      `playground/dist/${name} is stale: run deno task build:playground and commit it`,
    );
  }
  await Deno.remove(out, { recursive: true });
});
