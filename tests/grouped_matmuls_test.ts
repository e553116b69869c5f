// The threaded WASM backend runs consecutive independent matmuls of an op list as one job
// (kernels/wasm/call_groups.ts): each thread runs its row share of every matrix, then one join.
// Here an op list runs on two 2-thread backends, one grouping and one not, both splitting every
// call: the outputs must be bitwise equal, every row written, and the grouping backend must hand
// off fewer jobs, exactly as many as the safe groups, no hazard fused.
import assert from "node:assert/strict";
import {
  type Backend,
  type BackendSize,
  type MatrixSource,
  type Op,
  quantizeMatrix,
  type Tensor,
  type WeightDType,
} from "../kernels/mod.ts";
import { createWasmBackend } from "../kernels/wasm/backend.ts";
import { mulberry32 } from "../engine/prng.ts";
import { randomMatrix } from "./helpers/random_matrix.ts";

const SIZE: BackendSize = { capacity: 1 << 22, maxCols: 64 };

// Seeded weights, one seed per matrix.
const weights = (rows: number, cols: number, dtype: WeightDType, seed: number): MatrixSource =>
  randomMatrix(rows, cols, dtype, mulberry32(seed));

/** The same seeded inputs on `backend`: tensors by name (outputs NaN), and a way to add matmuls. */
function setup(backend: Backend, tokens: number) {
  const tensors = new Map<string, Tensor>();
  const tensor = (name: string, cols: number) => {
    if (tensors.has(name)) return tensors.get(name)!;
    const t = backend.tensor(tokens, cols);
    const rand = mulberry32(cols * 31 + name.charCodeAt(0));
    backend.write(
      t,
      new Float32Array(tokens * cols).map(() => (name.startsWith("x") ? rand() * 2 - 1 : NaN)),
    );
    tensors.set(name, t);
    return t;
  };
  const ops: Op[] = [];
  const matmul = (src: MatrixSource, x: string, out: string) =>
    ops.push({
      op: "matmul",
      w: backend.matrix(src),
      x: tensor(x, src.cols),
      out: tensor(out, src.rows),
      n: tokens,
    });
  return { tensors, ops, matmul };
}

/** Runs the op list built by `build` on a grouping and a non-grouping backend; returns their hand-offs. */
async function runBoth(
  tokens: number,
  build: (matmul: ReturnType<typeof setup>["matmul"]) => void,
  threads = 2,
) {
  const runs = [];
  for (const groupCalls of [true, false]) {
    const backend = await createWasmBackend({
      ...SIZE,
      threads,
      minParallelWork: 0,
      adaptiveSplit: false,
      groupCalls,
    });
    try {
      const { tensors, ops, matmul } = setup(backend, tokens);
      build(matmul);
      const before = backend.handOffs!();
      backend.sync!.execute(ops);
      const outputs = new Map([...tensors].map(([name, t]) => [name, backend.sync!.read(t)]));
      runs.push({ handOffs: backend.handOffs!() - before, outputs });
    } finally {
      backend.close();
    }
  }
  const [grouped, alone] = runs;
  for (const [name, want] of alone.outputs) {
    const got = grouped.outputs.get(name)!;
    assert.ok(want.every((v) => !Number.isNaN(v)), `${name}: a row was left unwritten`);
    assert.deepEqual(
      new Uint32Array(got.buffer),
      new Uint32Array(want.buffer),
      `${name} differs when grouped`,
    );
  }
  return { grouped: grouped.handOffs, alone: alone.handOffs };
}

for (const [tokens, threads] of [[1, 2], [3, 2], [3, 3]]) {
  Deno.test(`grouped matmuls of mixed formats equal the calls one by one (${tokens} token(s), ${threads} threads)`, async () => {
    const counts = await runBoth(tokens, (matmul) => {
      // f32 reads xa plain; the 16-bit ones share xb, permuted once for the group. 48 x 40 f32 and
      // 64 x 64 bf16 / f16 are placed as groups of 8 rows ("_g8"); 36, 20 and 12 rows are row-major.
      matmul(weights(36, 40, "f32", 1), "xa", "ya");
      matmul(weights(48, 40, "f32", 2), "xa", "yb");
      matmul(weights(64, 64, "bf16", 3), "xb", "yc");
      matmul(weights(20, 64, "f16", 4), "xb", "yd");
      matmul(weights(64, 64, "f16", 5), "xb", "ye");
      matmul(weights(12, 24, "bf16", 6), "xc", "yf");
    }, threads);
    assert.deepEqual(counts, { grouped: 1, alone: 6 });
  });
}

Deno.test("matmuls with an aliasing hazard are not grouped, and quantized ones run alone", async () => {
  const counts = await runBoth(2, (matmul) => {
    matmul(weights(64, 64, "bf16", 1), "xb", "y1"); // [0]: permutes xb
    matmul(weights(16, 64, "f32", 2), "xb", "y2"); // [1]: reads xb plain: not with [0]
    matmul(weights(40, 32, "f32", 3), "xa", "y3"); // [1, 2]
    matmul(weights(24, 40, "f32", 4), "y3", "y4"); // reads [2]'s output: [3]
    matmul(weights(16, 48, "f32", 5), "xc", "y5"); // [3, 4]
    matmul(weights(48, 24, "f32", 6), "xd", "xc"); // writes [4]'s input: [5]
    matmul(quantizeMatrix(weights(32, 64, "f32", 7), "q8"), "xe", "y6"); // quantized: [6]
    matmul(weights(8, 64, "f32", 8), "xe", "y7"); // [7]
  });
  assert.deepEqual(counts, { grouped: 6, alone: 8 });
});

Deno.test("an RWKV-7 on 2 threads, its matmuls grouped, gives the 1-thread logits bit for bit", async () => {
  const { randomRwkv7 } = await import("../bench/random_rwkv7.ts");
  const { buildModel } = await import("../bench/side_by_side.ts");
  // 2 layers: the second has the v lora; 256 wide, so the r/k/v group is past minParallelWork.
  const tensors = randomRwkv7({ nLayer: 2, nEmbd: 256, headSize: 64, vocab: 512 }, "bf16");
  const logits = [];
  for (const threads of [1, 2]) {
    const model = await buildModel(tensors, threads, undefined, undefined, false);
    try {
      model.writeSlot(0, model.newState());
      const steps = [[1, 2, 3], [4], [5]];
      for (const tokens of steps) logits.push((await model.step([{ slot: 0, tokens }]))[0]!.slice());
      if (threads === 2) assert.ok(model.backend.handOffs!() > 0, "nothing ran on the worker");
    } finally {
      model.backend.close();
    }
  }
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(new Uint32Array(logits[i + 3].buffer), new Uint32Array(logits[i].buffer), `step ${i}`);
  }
});

Deno.test("a group splits when one of its calls would split alone, and stays on the caller otherwise", async () => {
  // minParallelWork 2048: a 40 x 40 call (1600) stays on the caller alone, a 64 x 40 call (2560) splits.
  const backend = await createWasmBackend({
    ...SIZE,
    threads: 2,
    minParallelWork: 2048,
    adaptiveSplit: false,
  });
  try {
    const { ops, matmul } = setup(backend, 1);
    matmul(weights(40, 40, "f32", 1), "xa", "y1");
    matmul(weights(40, 40, "f32", 2), "xa", "y2"); // 3200 in all, each under 2048
    const small = backend.handOffs!();
    backend.sync!.execute(ops);
    assert.equal(backend.handOffs!() - small, 0);
    matmul(weights(64, 40, "f32", 3), "xa", "y3");
    const big = backend.handOffs!();
    backend.sync!.execute(ops);
    assert.equal(backend.handOffs!() - big, 1);
  } finally {
    backend.close();
  }
});
