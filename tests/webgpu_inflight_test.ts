// Steps in flight on WebGPU (engine/steps_ahead.ts): a generation with its picks on the GPU (greedy,
// or with penalties, whose counts the GPU keeps) queues its next steps before each pick reaches the
// host. It gives the tokens of a run with none in flight, and wherever it stops (max_tokens, a stop
// token, a stop string met mid-flight, a cancel; a checkpoint's sync midway; several sessions batched,
// stopping at different points, beside one reading its logits back; sessions losing their slot) the
// state, logits and sampler state it leaves are those of that run, bit for bit, and a next generation
// on the session goes on as that run's does. A count of submissions made while a readback was outstanding fails the test
// if the steps silently stopped overlapping.
import assert from "node:assert/strict";
import {
  DEFAULT_SAMPLING,
  generate,
  type GenerateRequest,
  newSession,
  type SamplerState,
  type SamplingParams,
  schedulerOf,
  syncState,
} from "../engine/mod.ts";
import { reloadState } from "../engine/session.ts";
import { decodeTokens } from "../tokenizers/mod.ts";
import { type LoadedModel, loadModel } from "../models/mod.ts";
import { webgpuMissing } from "./helpers/webgpu.ts";
import { measureGreedy, PENALIZED, SAMPLED } from "../bench/webgpu.ts";

const missing = await webgpuMissing();
const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
const GREEDY = { ...DEFAULT_SAMPLING, temperature: 0 };
/** The rules run ahead: greedy, and with penalties (sampled with a bias; greedy with picks that repeat). */
const RULES: Record<string, SamplingParams> = {
  greedy: GREEDY,
  "sampled, penalties, logit_bias": {
    ...DEFAULT_SAMPLING,
    temperature: 0.8,
    topP: 0.95,
    presencePenalty: 0.6,
    frequencyPenalty: 0.4,
    repetitionPenalty: 1.2,
    logitBias: { "7": 2 },
  },
  "greedy, penalties": {
    ...GREEDY,
    presencePenalty: -1.5,
    frequencyPenalty: 0.5,
    repetitionPenalty: 0.9,
  },
};
const PROMPTS = [[5, 9, 2, 7, 1], [3, 1, 4, 1, 5], [2, 7, 1, 8], [6, 6, 2]];

/** A model on WebGPU whose backend counts submissions queued while a readback was outstanding. */
async function open(family: string, slots = 3) {
  const loaded = await loadModel(`${FIXTURES}${family}/tiny`, { backend: "webgpu", slots });
  const backend = loaded.model.backend;
  const read = backend.read.bind(backend), submit = backend.submit.bind(backend);
  const counts = { reading: 0, overlapped: 0 };
  backend.read = (t, row, rows) => {
    counts.reading++;
    return read(t, row, rows).finally(() => counts.reading--);
  };
  backend.submit = (ops) => {
    if (counts.reading > 0) counts.overlapped++;
    return submit(ops);
  };
  return { loaded, counts };
}

interface Ending {
  readonly tokens: number[];
  readonly finish: string;
  readonly fed: number;
  readonly state: Uint32Array;
  readonly logits: Uint32Array;
  readonly sampler: SamplerState;
  /** The state and logits synced at `syncAt` tokens, as a checkpoint does. */
  readonly midway?: Uint32Array[];
}

const bits = (values: Float32Array) => new Uint32Array(values.slice().buffer);

/**
 * One generation (greedy unless `sampling` says) on a fresh session; `cancelAfter` tokens, then a
 * cancel; `syncAt` tokens, a sync as a checkpoint does (and with `reload`, the synced state written
 * back, as a bf16 checkpoint does); with `again`, a second generation on the session after it (its
 * tokens after the first's).
 */
async function run(
  loaded: LoadedModel,
  prompt: number[],
  request: Partial<GenerateRequest> & {
    cancelAfter?: number;
    syncAt?: number;
    reload?: boolean;
    again?: Partial<GenerateRequest>;
  },
): Promise<Ending> {
  let midway: Uint32Array[] | undefined;
  const session = newSession(loaded, 1);
  const cancel = { cancelled: false };
  const tokens: number[] = [];
  let finish = "";
  const { again, ...first } = request;
  const req = { prompt, maxTokens: 12, ignoreEos: true, sampling: GREEDY, cancel, ...first };
  for await (const ev of generate(loaded, session, req)) {
    if (ev.type === "token") tokens.push(ev.tokenId);
    else finish = ev.finishReason;
    if (tokens.length === request.cancelAfter) cancel.cancelled = true;
    if (tokens.length === request.syncAt && !midway) {
      await syncState(loaded, session);
      midway = [bits(session.state.data), bits(session.logits!)];
      if (request.reload) reloadState(loaded, session);
    }
  }
  if (again) {
    for await (
      const ev of generate(loaded, session, {
        ...req,
        cancel: undefined,
        prompt: [3, 1],
        maxTokens: 8,
        ...again,
      })
    ) {
      if (ev.type === "token") tokens.push(ev.tokenId);
    }
  }
  // Released at the end: the state and logits are synced from the GPU.
  return {
    tokens,
    finish,
    fed: session.tokens,
    state: bits(session.state.data),
    logits: bits(session.logits!),
    sampler: session.sampler,
    midway,
  };
}

function assertSameEnding(ahead: Ending, none: Ending, what: string): void {
  assert.deepEqual(ahead.tokens, none.tokens, `${what}: tokens`);
  assert.equal(ahead.finish, none.finish, `${what}: finish reason`);
  assert.equal(ahead.fed, none.fed, `${what}: tokens fed`);
  assert.deepEqual(ahead.state, none.state, `${what}: state bits`);
  assert.deepEqual(ahead.logits, none.logits, `${what}: logits bits`);
  assert.deepEqual(ahead.midway, none.midway, `${what}: state and logits synced midway`);
  assert.deepEqual(ahead.sampler, none.sampler, `${what}: sampler state (PRNG position, counts)`);
}

if (missing) {
  Deno.test({ name: `webgpu steps in flight: skipped (${missing})`, ignore: true, fn() {} });
} else {
  for (const family of ["rwkv7", "mamba"]) {
    for (const [rule, sampling] of Object.entries(RULES)) {
      Deno.test(`webgpu ${family}, ${rule}: steps in flight stop exactly where a run with none does`, async () => {
        const { loaded, counts } = await open(family);
        const scheduler = schedulerOf(loaded.model);
        try {
          // The same request with 3 steps in flight and with none.
          const both = async (prompt: number[], request: Parameters<typeof run>[2], what: string) => {
            scheduler.stepsAhead = 0;
            counts.overlapped = 0;
            const none = await run(loaded, prompt, { sampling, ...request });
            assert.equal(counts.overlapped, 0, `${what}: nothing overlaps with no steps in flight`);
            scheduler.stepsAhead = 3;
            const queued = scheduler.aheadSteps;
            const ahead = await run(loaded, prompt, { sampling, ...request });
            assertSameEnding(ahead, none, what);
            assert.ok(scheduler.aheadSteps > queued, `${what}: steps were queued ahead`);
            // A step was submitted while an earlier step's pick was still on its way back.
            assert.ok(counts.overlapped > 0, `${what}: steps overlapped their readbacks`);
            return none;
          };
          const full = await both(PROMPTS[0], {}, "max_tokens 12");
          assert.equal(full.tokens.length, 12);
          assert.equal(full.finish, "length");
          // A stop token met after a few steps: the steps queued behind it are undone.
          const at = full.tokens.findIndex((id, i) => i >= 3 && full.tokens.indexOf(id) === i);
          assert.ok(at > 0, "a token first seen after the third");
          const stopped = await both(PROMPTS[0], { stopTokenIds: [full.tokens[at]] }, "stop token");
          assert.equal(stopped.tokens.length, at + 1);
          assert.equal(stopped.finish, "stop");
          // A stop string completed by the sixth token.
          const text = decodeTokens(loaded.tokenizer, full.tokens.slice(0, 6));
          const stop = text.slice(-2);
          assert.ok(stop.length > 0, "the first tokens decode to text");
          const byString = await both(PROMPTS[0], { stop: [stop] }, "stop string");
          assert.equal(byString.finish, "stop");
          assert.ok(byString.tokens.length <= 6);
          await both(PROMPTS[0], { maxTokens: 5 }, "max_tokens 5");
          // A checkpoint's sync mid-flight reads the state after the tokens fed; the steps go on.
          await both(PROMPTS[0], { syncAt: 5 }, "synced midway");
          await both(PROMPTS[0], { syncAt: 5, reload: true }, "synced and reloaded midway");
          await both(PROMPTS[0], { cancelAfter: 4 }, "cancel");
          // Stopped mid-flight, then generating again on the session: it starts from the sampler's
          // counts (with penalties, not the GPU's, which counted the picks never fed).
          const again = await both(PROMPTS[0], { stopTokenIds: [full.tokens[at]], again: {} }, "stop, again");
          assert.ok(again.tokens.length > stopped.tokens.length, "the second generation made tokens");
          const cancelled = await both(PROMPTS[0], { cancelAfter: 4, again: {} }, "cancel, then again");
          assert.equal(cancelled.tokens.length, 4 + 8);
        } finally {
          loaded.model.backend.close();
        }
      });
    }
  }

  Deno.test("webgpu rwkv7: batched sessions in flight stop at their own points, each as alone", async () => {
    // The fourth asks for logprobs: its steps read logits back, batched with the steps run ahead.
    const { loaded } = await open("rwkv7", 4);
    const scheduler = schedulerOf(loaded.model);
    try {
      scheduler.stepsAhead = 0;
      const reference = await run(loaded, PROMPTS[1], {});
      const requests: Parameters<typeof run>[2][] = [
        { maxTokens: 7 },
        { stopTokenIds: [reference.tokens[4]], maxTokens: 10 },
        { cancelAfter: 5 },
        { logprobs: 0, maxTokens: 8 },
      ];
      const alone: Ending[] = [];
      for (const [i, request] of requests.entries()) alone.push(await run(loaded, PROMPTS[i], request));
      scheduler.stepsAhead = 3;
      const queued = scheduler.aheadSteps, steps = scheduler.steps;
      const together = await Promise.all(requests.map((request, i) => run(loaded, PROMPTS[i], request)));
      together.forEach((ending, i) => assertSameEnding(ending, alone[i], `session ${i}`));
      assert.ok(scheduler.aheadSteps > queued, "steps were queued ahead");
      // Batched: fewer steps than the tokens fed (prompts included) by the three alone.
      const fed = alone.reduce((sum, e) => sum + e.fed, 0);
      assert.ok(scheduler.steps - steps < fed, `${scheduler.steps - steps} steps for ${fed} tokens`);
    } finally {
      loaded.model.backend.close();
    }
  });

  Deno.test("webgpu rwkv7: sessions in flight that lose their slot to another end as alone", async () => {
    // Two slots, three generations: a session running ahead waits for no feed, so another's prompt
    // takes its slot (the steps it never fed undone, its state synced) and it reloads on its next token.
    const { loaded } = await open("rwkv7", 2);
    const scheduler = schedulerOf(loaded.model);
    try {
      const requests: Parameters<typeof run>[2][] = [{ maxTokens: 9 }, { cancelAfter: 6 }, { maxTokens: 8 }];
      scheduler.stepsAhead = 0;
      const alone: Ending[] = [];
      for (const [i, request] of requests.entries()) alone.push(await run(loaded, PROMPTS[i], request));
      scheduler.stepsAhead = 3;
      const queued = scheduler.aheadSteps;
      const together = await Promise.all(requests.map((request, i) => run(loaded, PROMPTS[i], request)));
      together.forEach((ending, i) => assertSameEnding(ending, alone[i], `session ${i}`));
      assert.ok(scheduler.aheadSteps > queued, "steps were queued ahead");
    } finally {
      loaded.model.backend.close();
    }
  });

  Deno.test("webgpu: the bench's greedy, sampled and penalized decode run with each step waiting and with steps in flight", async () => {
    const { loaded, counts } = await open("mamba");
    try {
      const tps = await measureGreedy(loaded.model, 4);
      assert.ok(tps.oneAtATime > 0 && tps.inFlight > 0, JSON.stringify(tps));
      const sampled = await measureGreedy(loaded.model, 4, { sampling: SAMPLED });
      assert.ok(sampled.oneAtATime > 0 && sampled.inFlight > 0, JSON.stringify(sampled));
      const penalized = await measureGreedy(loaded.model, 4, { sampling: PENALIZED });
      assert.ok(penalized.oneAtATime > 0 && penalized.inFlight > 0, JSON.stringify(penalized));
      assert.ok(counts.overlapped > 0, "steps overlapped their readbacks");
    } finally {
      loaded.model.backend.close();
    }
  });
}
