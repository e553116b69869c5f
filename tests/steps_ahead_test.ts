// Steps in flight (engine/steps_ahead.ts) through the scheduler on a CPU backend, so they are
// checked where no WebGPU adapter is (tests/webgpu_inflight_test.ts runs them on one): greedy feeds
// that run 3 steps ahead give the picks of feeds that run none, and the state and logits left when
// the feeding stops early, or is synced midway, are the same bit for bit; sampled feeds (the pick op
// of kernels/cpu/pick.ts, each step ahead drawing the PRNG's next uniform) give the host sampler's
// tokens and sampler state, with steps ahead or none.
import assert from "node:assert/strict";
import {
  DEFAULT_SAMPLING,
  devicePick,
  newSession,
  recordPick,
  sampleToken,
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

/** Feeds a prompt, then `feed` picks sampled by the backend (MAX allowed); the picks and the sampler state. */
async function feedSampled(loaded: LoadedModel, feed: number) {
  const session = newSession(loaded, 7);
  const picks: number[] = [];
  const options = (ahead: number) => ({
    pick: devicePick(SAMPLED, session.sampler),
    ahead,
    rng: session.sampler.rng,
  });
  let pick = await appendPicked(loaded, session, [5, 9, 2, 7, 1], options(MAX));
  for (let fed = 1; fed <= feed; fed++) {
    recordPick(session.sampler, SAMPLED, pick);
    picks.push(pick);
    pick = await appendPicked(loaded, session, [pick], options(MAX - fed));
  }
  await releaseState(loaded, session);
  return { picks, sampler: session.sampler, state: bits(session.state.data), logits: bits(session.logits!) };
}

Deno.test("sampled steps in flight on a CPU backend give the host sampler's tokens and state", async () => {
  const loaded = await loadModel(DIR, { backend: "reference", slots: 2 });
  const scheduler = schedulerOf(loaded.model);
  // The host sampler on the logits path.
  const session = newSession(loaded, 7);
  await appendTokens(loaded, session, [5, 9, 2, 7, 1]);
  const host: number[] = [];
  for (let fed = 1; fed <= 6; fed++) {
    host.push(sampleToken(session.logits!, SAMPLED, session.sampler));
    await appendTokens(loaded, session, [host[host.length - 1]]);
  }
  await releaseState(loaded, session);
  scheduler.stepsAhead = 0;
  const none = await feedSampled(loaded, 6);
  scheduler.stepsAhead = 3;
  const steps = scheduler.steps;
  const ahead = await feedSampled(loaded, 6);
  assert.deepEqual(none.picks, host);
  assert.deepEqual(none.sampler, session.sampler);
  assert.deepEqual(bits(session.logits!), none.logits);
  assert.deepEqual(ahead, none);
  assert.equal(scheduler.steps - steps, 1, "after the prompt's step, every step was one queued ahead");
});
