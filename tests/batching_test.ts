// Many sessions in one step: every family, on every backend, gives each session exactly (bit for
// bit) the logits and state it gets alone; a state read back from its arena slot equals the host
// state the synchronous path leaves; and generations running at once through the engine's
// scheduler share steps yet produce the very tokens they produce one at a time.
import assert from "node:assert/strict";
import { DEFAULT_SAMPLING, generate, newSession, schedulerOf } from "../engine/mod.ts";
import { BACKENDS } from "../kernels/mod.ts";
import { loadModel } from "../models/mod.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
// The backends with a synchronous forward(); WebGPU runs step() only (tests/webgpu_test.ts).
const HOST_BACKENDS = [...BACKENDS.keys()].filter((name) => name !== "webgpu");
const DEFAULT_MODEL = new URL("../assets/rwkv7-kjv-4m", import.meta.url).pathname;
const FAMILIES = ["rwkv7", "rwkv4", "mamba", "mamba2", "retnet"];

function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

function assertSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  const i = a.findIndex((bits, j) => bits !== e[j]);
  assert.equal(i, -1, `${what}[${i}]: ${actual[i]} batched vs ${expected[i]} alone`);
}

for (const family of FAMILIES) {
  for (const backend of HOST_BACKENDS) {
    Deno.test(`${family} on ${backend}: four sessions in one step equal each alone, logits and state bit for bit`, async () => {
      const { model } = await loadModel(`${FIXTURES}${family}/tiny`, { backend, chunk: 32, slots: 4 });
      try {
        const vocab = model.info.vocabSize;
        const prompts = [3, 1, 9, 5].map((len, s) =>
          Array.from({ length: len }, (_, i) => (s * 31 + i * 7 + 1) % vocab)
        );
        const DECODE = 6;
        // Alone: the synchronous path, one session at a time (prompt as one chunk, then greedy tokens).
        const alone = prompts.map((prompt) => {
          const state = model.newState();
          const logits = [model.forward(prompt, state)];
          for (let i = 0; i < DECODE; i++) logits.push(model.forward([argmax(logits[i])], state));
          return { logits, state: state.data };
        });
        // Together: every prompt in one step (a run per slot), then one row per session per step.
        prompts.forEach((_, slot) => model.writeSlot(slot, model.newState()));
        let logits = await model.step(prompts.map((tokens, slot) => ({ slot, tokens })));
        for (let i = 0; i <= DECODE; i++) {
          logits.forEach((l, s) =>
            assertSameBits(l!, alone[s].logits[i], `session ${s} logits after step ${i}`)
          );
          if (i === DECODE) break;
          logits = await model.step(logits.map((l, slot) => ({ slot, tokens: [argmax(l!)] })));
        }
        for (let s = 0; s < prompts.length; s++) {
          assertSameBits(await model.readSlot(s), alone[s].state, `session ${s} state read from its slot`);
        }
      } finally {
        model.backend.close();
      }
    });
  }
}

Deno.test("a step mixing a prompt chunk with decode rows, or skipping logits, changes no session's numbers", async () => {
  const { model } = await loadModel(DEFAULT_MODEL, { slots: 3 });
  try {
    const a = [5, 9, 14, 2, 7], b = [11, 3];
    const stateA = model.newState(), stateB = model.newState();
    const aloneA = model.forward(a, stateA);
    model.forward(b.slice(0, 1), stateB);
    const aloneB = model.forward(b.slice(1), stateB);
    model.writeSlot(0, model.newState());
    model.writeSlot(1, model.newState());
    await model.step([{ slot: 1, tokens: b.slice(0, 1), logits: false }]);
    const [la, lb] = await model.step([{ slot: 0, tokens: a }, { slot: 1, tokens: b.slice(1) }]);
    assertSameBits(la!, aloneA, "prompt chunk beside a decode row");
    assertSameBits(lb!, aloneB, "decode row beside a prompt chunk");
    assertSameBits(await model.readSlot(0), stateA.data, "state of the prompt's slot");
  } finally {
    model.backend.close();
  }
});

Deno.test("eight seeded generations at once through the scheduler share steps and equal each run alone", async () => {
  const loaded = await loadModel(DEFAULT_MODEL, { slots: 8 });
  try {
    const run = async (i: number) => {
      const session = newSession(loaded, 1000 + i);
      const prompt = loaded.tokenizer.encode(["And God said", "In the beginning", "Blessed are"][i % 3]);
      const sampling = { ...DEFAULT_SAMPLING, temperature: i % 2 === 0 ? 0.9 : 0, topP: 0.95 };
      const ids: number[] = [];
      for await (
        const ev of generate(loaded, session, { prompt, maxTokens: 24, sampling, ignoreEos: true })
      ) {
        if (ev.type === "token") ids.push(ev.tokenId);
      }
      return { ids, state: session.state.data };
    };
    const scheduler = schedulerOf(loaded.model);
    const alone = [];
    for (let i = 0; i < 8; i++) alone.push(await run(i));
    const before = scheduler.steps;
    const together = await Promise.all(Array.from({ length: 8 }, (_, i) => run(i)));
    const steps = scheduler.steps - before;
    for (let i = 0; i < 8; i++) {
      assert.deepEqual(together[i].ids, alone[i].ids, `generation ${i}: tokens batched vs alone`);
      assertSameBits(together[i].state, alone[i].state, `generation ${i}: final state`);
    }
    // Alone, 8 × (1 prompt step + 24 token steps); together they must have shared most steps.
    assert.ok(steps < 8 * 25 / 2, `${steps} steps for 8 generations of 24 tokens: not batched`);
  } finally {
    loaded.model.backend.close();
  }
});
