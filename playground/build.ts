/**
 * Builds the playground's browser bundles (the page script and the local engine's Web Worker)
 * into playground/dist/, or into the directory given. They are committed, so the server and the
 * Workers bundle serve them without a build step; tests/playground_build_test.ts checks that the
 * committed files match their sources.
 *
 *   deno task build:playground [OUT_DIR]
 *
 * @module
 */

const here = new URL(".", import.meta.url).pathname;
const out = Deno.args[0] ?? `${here}dist`;
const ENTRIES = ["app.ts", "local_worker.ts"];

await Deno.mkdir(out, { recursive: true });
for (const entry of ENTRIES) {
  const target = `${out}/${entry.replace(/\.ts$/, ".js")}`;
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--lock=deno.lock",
      "--platform",
      "browser",
      "--minify",
      "-o",
      target,
      `${here}${entry}`,
    ],
    cwd: `${here}..`,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    console.error(new TextDecoder().decode(stderr));
    Deno.exit(1);
  }
  console.log(`${target}: ${((await Deno.stat(target)).size / 1024).toFixed(0)} KB`);
}

// The WASM kernels as base64 text, for the Workers bundle: it can serve a text module's bytes, but
// a .wasm import is a compiled module there, whose bytes cannot be read back.
for (const name of ["kernels.wasm", "kernels_baseline.wasm"]) {
  const bytes = await Deno.readFile(`${here}../kernels/wasm/${name}`);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 8192) binary += String.fromCharCode(...bytes.subarray(i, i + 8192));
  await Deno.writeTextFile(`${out}/${name}.base64.txt`, btoa(binary));
}
