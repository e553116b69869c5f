/**
 * Steps in flight: a generation whose picks stay on the device (the scheduler's feedPicked with a
 * token budget) does not wait for each pick to reach the host before its next step is queued: a greedy
 * one, or one picked by a rule ({@linkcode AheadRule}), each step's draw the next uniform of its PRNG
 * (known before the step). A rule with penalties counts the tokens picked: the device keeps each
 * slot's counts, loaded from the sampler's with the generation's first pick step and counting every
 * pick after it (models/shared/picks.ts), so a step queued ahead sees the picks before it.
 *
 * After the generation's first pick step, up to `depth` steps are queued ahead of it (never more
 * than its budget: what max_tokens leaves), each fed, on the device, the token the previous step
 * picked, and each first copying the slot's state and kept logits into a snapshot buffer in the same
 * submission (the model's `stepAhead`; a session's steps in flight use snapshots 0..depth-1 in
 * turn). The engine consumes the picks in order: its next feedPicked of the token it was handed
 * takes the oldest queued step as that token's step ({@linkcode StepsAhead.take}), and another is
 * queued. Whatever ends the generation (a stop token or string, max_tokens, a cancel, an abort, its
 * slot taken for another session) leaves steps the engine never fed: releasing the slot, any other
 * feed of the session and a reload first put the slot back from the oldest such step's snapshot
 * ({@linkcode StepsAhead.drop}), so the state and logits saved are, bit for bit, those of a run that
 * stopped with nothing in flight. The sampler's state (PRNG position, penalty counts) is the host's
 * and takes only the picks the generation used; the device's counts, which took the picks of steps
 * never fed too, need no undoing: the slot's next step the host feeds loads them again from that
 * sampler state. A sync while steps are queued (a checkpoint) reads the snapshot
 * ({@linkcode StepsAhead.saved}) and the steps go on.
 *
 * @module
 */

import type { AheadEntry, DevicePick, RecurrentModel } from "../models/mod.ts";
import { mulberry32Step } from "./prng.ts";
import { penalized } from "./sampler.ts";
import type { Session } from "./session.ts";

/**
 * A generation's rule for its steps ahead: the same for every step but the draw's uniform, each the
 * next of the sampler's PRNG, and the penalties' counts, each step's those of the step before plus
 * its pick (kept on the device).
 */
export interface AheadRule {
  /** The rule of the pick the run starts from (its counts: the sampler's, with the token it feeds). */
  readonly pick: DevicePick;
  /** The PRNG state that pick's uniform came from. */
  readonly rng: number;
}

/** Default most steps a generation runs ahead of the host (see {@linkcode StepsAhead.depth}). */
export const DEFAULT_STEPS_AHEAD = 3;

/** A generation's steps queued ahead of the host. */
interface Run {
  /** Tokens the generation may still feed after those it has fed (its max_tokens left). */
  budget: number;
  /** The last pick handed to the generation: the token its next feed must bring. */
  expect: number | undefined;
  /**
   * Steps queued, not yet taken by a feed, oldest first: each one's pick, snapshot, draw's uniform and
   * (penalized) the total of the counts its pick saw.
   */
  readonly pending: {
    readonly pick: Promise<number>;
    readonly snapshot: number;
    readonly u: number;
    readonly counted: number;
  }[];
  /** Steps queued so far (each one's snapshot is this modulo the depth). */
  queued: number;
  /** A sampled run's rule, and the PRNG state the next queued step's uniform comes from. */
  readonly rule?: DevicePick;
  rng: number;
  /** The total of the counts the run's first pick saw (a penalized rule's). */
  readonly counted: number;
}

/** The runs ahead of one model's sessions (owned by its scheduler). */
export class StepsAhead {
  readonly #model: RecurrentModel;
  readonly #slotOf: (session: Session) => number | undefined;
  readonly #runs = new Map<Session, Run>();
  #steps = 0;

  /**
   * Most steps a generation keeps queued ahead (0: each step waits for the previous pick); the
   * snapshots hold this many copies of the state arena. Set it while no generation runs ahead (each
   * one's snapshots are numbered modulo this).
   */
  depth: number = DEFAULT_STEPS_AHEAD;

  /** Runs ahead on `model`'s slots; `slotOf` says which slot a session holds (undefined: none). */
  constructor(model: RecurrentModel, slotOf: (session: Session) => number | undefined) {
    this.#model = model;
    this.#slotOf = slotOf;
  }

  /** Steps queued ahead so far. */
  get steps(): number {
    return this.#steps;
  }

  /**
   * After a session's pick step (`pick` its result): runs it ahead, `budget` tokens at most; greedy,
   * or by `rule` (each step the next uniform of the PRNG, and the counts with the picks before it).
   */
  start(session: Session, budget: number, pick: number, rule?: AheadRule): void {
    if (this.depth === 0) return;
    const rng = rule ? nextDraw(rule.pick, rule.rng).rng : 0;
    const counted = rule ? total(rule.pick.counts) : 0;
    this.#runs.set(session, { budget, expect: pick, pending: [], queued: 0, rule: rule?.pick, rng, counted });
  }

  /**
   * The queued step of `tokens` (the session's last pick), taken as fed; undefined when none is
   * queued for them. `budget`: the tokens the generation may feed after these.
   */
  take(
    session: Session,
    tokens: readonly number[],
    budget: number,
    pick?: DevicePick,
  ): Promise<number> | undefined {
    const run = this.#runs.get(session);
    if (!run || run.pending.length === 0 || tokens.length !== 1 || tokens[0] !== run.expect) return undefined;
    // The step must pick as this feed asks: greedy, or by the run's rule with this uniform, and
    // penalized, with counts that took each pick since the run's first (the sampler's took them).
    const step = run.pending[0];
    if ((pick === undefined) !== (run.rule === undefined) || (pick && pick.u !== step.u)) return undefined;
    if (pick && penalized(pick) && total(pick.counts) !== step.counted) return undefined;
    run.pending.shift();
    run.budget = budget;
    run.expect = undefined;
    step.pick.then((id) => run.expect = id, () => {});
    return step.pick;
  }

  /**
   * Queues steps until every session running ahead has min(depth, budget) queued; each step takes one
   * row of every session with room, fed the token its last step picked.
   */
  fill(): void {
    for (;;) {
      const rows: { run: Run; entry: AheadEntry }[] = [];
      for (const [session, run] of this.#runs) {
        const slot = this.#slotOf(session);
        if (slot === undefined || run.pending.length >= Math.min(this.depth, run.budget)) continue;
        if (rows.length === this.#model.chunk) break;
        let pick: DevicePick | undefined;
        if (run.rule) {
          const draw = nextDraw(run.rule, run.rng);
          pick = { ...run.rule, u: draw.u };
          run.rng = draw.rng;
        }
        rows.push({ run, entry: { slot, snapshot: run.queued % this.depth, pick } });
      }
      if (rows.length === 0) return;
      let picks: Promise<number[]>;
      try {
        picks = this.#model.stepAhead(rows.map((r) => r.entry));
      } catch (err) {
        picks = Promise.reject(err); // heard by the generations when they feed these steps
      }
      this.#steps++;
      rows.forEach(({ run, entry }, i) => {
        const pick = picks.then((p) => p[i]);
        pick.catch(() => {}); // a step never fed fails unheard
        // The counts this step's pick sees: the first pick's, and one per pick since (this step's token's included).
        const counted = run.counted + run.queued + 1;
        run.pending.push({ pick, snapshot: entry.snapshot, u: entry.pick?.u ?? 0, counted });
        run.queued++;
      });
    }
  }

  /** The snapshot holding the session's state after the tokens it fed, while steps are queued ahead. */
  saved(session: Session): number | undefined {
    return this.#runs.get(session)?.pending[0]?.snapshot;
  }

  /**
   * Ends the session's run ahead: its slot is put back as the oldest step it never fed found it (that
   * step and those after it are undone; the restore is queued before this returns).
   */
  drop(session: Session): Promise<void> {
    const run = this.#runs.get(session);
    if (!run) return Promise.resolve();
    this.#runs.delete(session);
    const slot = this.#slotOf(session);
    if (slot === undefined || run.pending.length === 0) return Promise.resolve();
    return this.#model.restoreSnapshot(slot, run.pending[0].snapshot);
  }
}

// The sum of a rule's counts (the tokens they count).
function total(counts: ReadonlyMap<number, number>): number {
  let sum = 0;
  for (const n of counts.values()) sum += n;
  return sum;
}

// A rule's uniform drawn from PRNG state `rng` (none at temperature 0), and the state after it.
function nextDraw(rule: DevicePick, rng: number): { u: number; rng: number } {
  if (rule.temperature <= 0) return { u: 0, rng };
  const step = mulberry32Step(rng);
  return { u: step.value, rng: step.state };
}
