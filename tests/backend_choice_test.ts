// --backend auto: WebGPU only on a hardware adapter that passes the self-check, else WASM; the start
// line says which and why. The self-check itself runs on any adapter (lavapipe in CI, taken as a GPU
// there with acceptSoftware), and fails on a backend that computes an op wrongly.
import assert from "node:assert/strict";
import {
  type Backend,
  chooseBackend,
  createBackend,
  type Recurrence,
  selfCheck,
  softwareAdapter,
  type Tensor,
} from "../kernels/mod.ts";
import { startServer } from "./helpers/server.ts";

const adapter = "gpu" in navigator ? await navigator.gpu.requestAdapter().catch(() => null) : null;
const gpuTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name: name + (adapter ? "" : " (skipped: no WebGPU adapter)"), ignore: !adapter, fn });
const RECURRENCES: Recurrence[] = ["wkv7", "wkv4", "selectiveScan", "ssdScan", "retention"];

Deno.test("software adapters are told apart from GPUs by their flag or their name", () => {
  assert.match(
    softwareAdapter({ isFallbackAdapter: true, description: "llvmpipe (LLVM 15.0.6)" })!,
    /llvmpipe/,
  );
  assert.match(softwareAdapter({ vendor: "mesa", device: "lavapipe" })!, /software rasterizer \(lavapipe\)/);
  assert.match(softwareAdapter({ description: "Google SwiftShader" })!, /SwiftShader/);
  assert.match(softwareAdapter({ description: "Microsoft Basic Render Driver" })!, /Basic Render Driver/);
  assert.equal(softwareAdapter({ vendor: "nvidia", description: "NVIDIA H100 80GB HBM3" }), undefined);
  assert.equal(softwareAdapter({ vendor: "apple", architecture: "metal-3" }), undefined);
});

Deno.test("auto chooses WebGPU only for a hardware adapter, and says why", async () => {
  const choice = await chooseBackend({ formats: ["bf16"], recurrence: "wkv7" });
  if (!adapter) {
    assert.equal(choice.name, "wasm");
    assert.match(choice.why, /no WebGPU/);
  } else if (softwareAdapter(adapter.info)) {
    assert.equal(choice.name, "wasm");
    assert.match(choice.why, /is a (CPU fallback adapter|software rasterizer).*: slower than wasm/);
  } else {
    assert.ok(choice.name === "webgpu" || /failed its self-check/.test(choice.why), choice.why);
  }
});

gpuTest(
  "auto taking this adapter as a GPU runs the self-check, passes it and says what it checked",
  async () => {
    const choice = await chooseBackend({
      formats: ["f16", "q4"],
      recurrence: "ssdScan",
      acceptSoftware: true,
    });
    assert.equal(choice.name, "webgpu", choice.why);
    assert.match(choice.why, /passed its self-check \(matmul f16\/q4, norms, silu, ssdScan\)/);
  },
);

gpuTest("the self-check passes on this adapter for every weight format and recurrence", async () => {
  const gpu = await createBackend({ capacity: 1 << 20, maxCols: 96 }, "webgpu");
  try {
    for (const recurrence of RECURRENCES) {
      assert.equal(
        await selfCheck(gpu, { formats: ["f32", "bf16", "f16", "q8", "q4"], recurrence }),
        undefined,
      );
    }
  } finally {
    gpu.close();
  }
});

gpuTest("the self-check names the op a wrong backend computes wrongly", async () => {
  const gpu = await createBackend({ capacity: 1 << 20, maxCols: 96 }, "webgpu");
  // A backend whose q4 matmul output comes back scaled by 1.01 (as a bad adapter's would).
  const wrong: Backend = Object.create(gpu);
  let q4Out: Tensor | undefined;
  const matrix = gpu.matrix.bind(gpu), submit = gpu.submit.bind(gpu), read = gpu.read.bind(gpu);
  let lastQ4 = false;
  Object.assign(wrong, {
    matrix: (src: Parameters<Backend["matrix"]>[0]) => ((lastQ4 = src.dtype === "q4"), matrix(src)),
    submit: (ops: Parameters<Backend["submit"]>[0]) => {
      const m = ops.find((op) => op.op === "matmul");
      if (m && lastQ4) q4Out = m.out;
      return submit(ops);
    },
    read: async (t: Tensor) => (await read(t)).map((v) => (t === q4Out ? v * 1.01 + 0.01 : v)),
  });
  try {
    assert.equal(await selfCheck(wrong, { formats: ["q8"], recurrence: "wkv4" }), undefined);
    const failure = await selfCheck(wrong, { formats: ["q8", "q4"], recurrence: "wkv4" });
    assert.match(failure ?? "", /^matmul q4 gave .* at output 0\[\d+\] where the reference gives /);
  } finally {
    gpu.close();
  }
});

Deno.test("a server started with BACKEND=auto names its choice and its reason", async () => {
  const server = await startServer({ STORE: "memory", BACKEND: "auto" });
  try {
    assert.match(server.log, /backend auto chose (wasm|webgpu): .+/);
    if (adapter && softwareAdapter(adapter.info)) {
      assert.match(server.log, /backend auto chose wasm: .*slower than/);
    }
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
