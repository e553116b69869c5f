// --backend auto: WebGPU only on a hardware adapter that passes the self-check, else WASM; the start
// line says which and why. The self-check itself runs on any adapter (lavapipe in CI).
import assert from "node:assert/strict";
import { chooseBackend, selfCheck } from "../kernels/mod.ts";
import { startServer } from "./helpers/server.ts";

const adapter = "gpu" in navigator ? await navigator.gpu.requestAdapter().catch(() => null) : null;

Deno.test("auto chooses WebGPU only for a hardware adapter, and says why", async () => {
  const choice = await chooseBackend();
  if (!adapter) {
    assert.equal(choice.name, "wasm");
    assert.match(choice.why, /no WebGPU/);
  } else if (adapter.info.isFallbackAdapter) {
    assert.equal(choice.name, "wasm");
    assert.match(choice.why, /CPU fallback/);
  } else {
    assert.ok(choice.name === "webgpu" || /failed its self-check/.test(choice.why), choice.why);
  }
});

Deno.test({
  name: "the self-check passes on this machine's adapter" + (adapter ? "" : " (skipped: no WebGPU adapter)"),
  ignore: !adapter,
  async fn() {
    assert.equal(await selfCheck(), undefined);
  },
});

Deno.test("a server started with BACKEND=auto names its choice and its reason", async () => {
  const server = await startServer({ STORE: "memory", BACKEND: "auto" });
  try {
    assert.match(server.log, /backend auto chose (wasm|webgpu): .+/);
    const res = await fetch(`${server.base}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "In the beginning", max_tokens: 4 }),
    });
    assert.equal(res.status, 200);
    await res.body?.cancel();
  } finally {
    server.child.kill("SIGTERM");
    await server.child.status;
  }
});
