// Steps in flight (engine/steps_ahead.ts) through the scheduler on a CPU backend, so they are
// checked where no WebGPU adapter is (tests/webgpu_inflight_test.ts runs them on one): greedy feeds
// that run 3 steps ahead give the picks of feeds that run none, and the state and logits left when
// the feeding stops early, or is synced midway, are the same bit for bit; sampled feeds (the pick op
// of kernels/cpu/pick.ts, each step ahead drawing the PRNG's next uniform) give the host sampler's
// tokens and sampler state, with steps ahead or none; penalized ones too (the counts kept by the
// backend), stopped with steps in flight and then continued on the same session.
import assert from "node:assert/strict";
import {
  DEFAULT_SAMPLING,
  devicePick,
  newSession,
  recordPick,
  sampleToken,
  type SamplingParams,
  schedulerOf,
  syncState,
} from "../engine/mod.ts";
import { appendPicked, appendTokens, releaseState } from "../engine/session.ts";
import { type LoadedModel, loadModel } from "../models/mod.ts";

const DIR = new URL("./fixtures/rwkv7/tiny/", import.meta.url).pathname;
const MAX = 10;
const bits = (values: Float32Array) => new Uint32Array(values.slice().buffer);

/** Feeds a prompt, then `feed` greedy picks (of MAX allowed); the picks, and the state and logits at the end. */
async function feedPicks(loaded: LoadedModel, feed: number, syncAt?: number) {
  const session = newSession(loaded, 1);
  const picks: number[] = [];
  let midway: Uint32Array[] | undefined;
  let pick = await appendPicked(loaded, session, [5, 9, 2, 7, 1], { ahead: MAX });
  for (let fed = 1; fed <= feed; fed++) {
    picks.push(pick);
    pick = await appendPicked(loaded, session, [pick], { ahead: MAX - fed });
    if (fed === syncAt) {
      await syncState(loaded, session);
      midway = [bits(session.state.data), bits(session.logits!)];
    }
  }
  await releaseState(loaded, session);
  return {
    picks,
    tokens: session.tokens,
    state: bits(session.state.data),
    logits: bits(session.logits!),
    midway,
  };
}

Deno.test("steps in flight on a CPU backend stop with the state of feeds that ran none", async () => {
  const loaded = await loadModel(DIR, { backend: "reference", slots: 2 });
  const scheduler = schedulerOf(loaded.model);
  for (const [feed, syncAt] of [[MAX, undefined], [4, undefined], [7, 3]]) {
    scheduler.stepsAhead = 0;
    const none = await feedPicks(loaded, feed!, syncAt);
    scheduler.stepsAhead = 3;
    const queued = scheduler.aheadSteps;
    const ahead = await feedPicks(loaded, feed!, syncAt);
    assert.deepEqual(ahead, none, `${feed} fed, synced at ${syncAt}`);
    assert.ok(scheduler.aheadSteps > queued, "steps were queued ahead");
  }
});

const SAMPLED = { ...DEFAULT_SAMPLING, temperature: 0.9, topP: 0.9, topK: 30, logitBias: { "3": 2 } };

/** Penalized rules: sampled with every penalty and a bias, and greedy with penalties. */
const PENALIZED: Record<string, SamplingParams> = {
  "sampled, penalties and logit_bias": {
    ...DEFAULT_SAMPLING,
    temperature: 0.8,
    topK: 40,
    presencePenalty: 0.7,
    frequencyPenalty: 0.5,
    repetitionPenalty: 1.3,
    logitBias: { "3": 1.5 },
  },
  // A negative presence penalty draws the picks back to tokens already picked, the frequency penalty
  // away once they repeat: on the tiny model the picks repeat, so each step's counts matter.
  "greedy, penalties": {
    ...DEFAULT_SAMPLING,
    temperature: 0,
    presencePenalty: -1.5,
    frequencyPenalty: 0.5,
    repetitionPenalty: 0.9,
  },
};

const PROMPTS = [[5, 9, 2, 7, 1], [4, 4, 8]];

/**
 * On one session, for each of `feeds` in turn: a prompt, then that many picks made by the backend
 * (MAX allowed, so steps are in flight when it stops sooner), then the slot released; the picks of
 * each round, the sampler state, and the state and logits at the end.
 */
async function feedSampled(loaded: LoadedModel, feeds: number[], params: SamplingParams = SAMPLED) {
  const session = newSession(loaded, 7);
  const picks: number[][] = [];
  const options = (ahead: number) => ({
    pick: devicePick(params, session.sampler),
    ahead,
    rng: session.sampler.rng,
  });
  for (const [round, feed] of feeds.entries()) {
    picks.push([]);
    let pick = await appendPicked(loaded, session, PROMPTS[round], options(MAX));
    for (let fed = 1; fed <= feed; fed++) {
      recordPick(session.sampler, params, pick);
      picks[round].push(pick);
      pick = await appendPicked(loaded, session, [pick], options(MAX - fed));
    }
    await releaseState(loaded, session);
  }
  return { picks, sampler: session.sampler, state: bits(session.state.data), logits: bits(session.logits!) };
}

/** The same rounds sampled on the host from the logits (sampleToken). */
async function hostSampled(loaded: LoadedModel, feeds: number[], params: SamplingParams = SAMPLED) {
  const session = newSession(loaded, 7);
  const picks: number[][] = [];
  for (const [round, feed] of feeds.entries()) {
    picks.push([]);
    await appendTokens(loaded, session, PROMPTS[round]);
    for (let fed = 1; fed <= feed; fed++) {
      picks[round].push(sampleToken(session.logits!, params, session.sampler));
      await appendTokens(loaded, session, [picks[round][fed - 1]]);
    }
    await releaseState(loaded, session);
  }
  return { picks, sampler: session.sampler, state: bits(session.state.data), logits: bits(session.logits!) };
}

Deno.test("sampled steps in flight on a CPU backend give the host sampler's tokens and state", async () => {
  const loaded = await loadModel(DIR, { backend: "reference", slots: 2 });
  const scheduler = schedulerOf(loaded.model);
  const host = await hostSampled(loaded, [6]);
  scheduler.stepsAhead = 0;
  const none = await feedSampled(loaded, [6]);
  scheduler.stepsAhead = 3;
  const steps = scheduler.steps;
  const ahead = await feedSampled(loaded, [6]);
  assert.deepEqual(none, host);
  assert.deepEqual(ahead, none);
  assert.equal(scheduler.steps - steps, 1, "after the prompt's step, every step was one queued ahead");
});

// Penalties: the backend keeps each slot's counts, loaded from the sampler's by the first pick step
// and counting each pick after it, so the steps ahead see the picks before them. Stopped with steps in
// flight (4 of 10 fed), the sampler state is the host's, and a second round on the session (its counts
// loaded again, not the device's, which counted picks never fed) goes on as the host's does.
for (const [name, params] of Object.entries(PENALIZED)) {
  Deno.test(`steps in flight on a CPU backend, ${name}: the host sampler's tokens and state`, async () => {
    const loaded = await loadModel(DIR, { backend: "reference", slots: 2 });
    const scheduler = schedulerOf(loaded.model);
    for (const feeds of [[MAX], [4, 6], [2, MAX]]) {
      const host = await hostSampled(loaded, feeds, params);
      scheduler.stepsAhead = 0;
      const none = await feedSampled(loaded, feeds, params);
      scheduler.stepsAhead = 3;
      const steps = scheduler.steps, queued = scheduler.aheadSteps;
      const ahead = await feedSampled(loaded, feeds, params);
      assert.deepEqual(none, host, `${feeds}: with none in flight`);
      assert.deepEqual(ahead, none, `${feeds}: with 3 in flight`);
      // Each round: the prompt's step, then every pick's step was one queued ahead.
      assert.equal(scheduler.steps - steps, feeds.length, `${feeds}: steps waited for`);
      assert.ok(scheduler.aheadSteps - queued >= feeds.reduce((a, b) => a + b), `${feeds}: steps queued`);
    }
    // The penalties change the picks: without them the same session picks otherwise.
    const plain = await hostSampled(loaded, [MAX], {
      ...params,
      presencePenalty: 0,
      frequencyPenalty: 0,
      repetitionPenalty: 1,
    });
    assert.notDeepEqual(plain.picks, (await hostSampled(loaded, [MAX], params)).picks);
  });
}
