/**
 * Continuous batching: every session that wants tokens fed (a prompt being prefilled, or the
 * token a generation just sampled) queues them here, and one model step runs them together,
 * each on its own state slot. Generations join and leave at any step; a long prompt is fed in
 * pieces that share steps with the decode rows, so running streams keep flowing.
 *
 * A session's state stays in its slot between steps; the host copy (`session.state`) is brought
 * up to date only by {@linkcode Scheduler.sync} (checkpoints) and {@linkcode Scheduler.release}
 * (the end of a prefill or a generation), and when a slot is needed for another session.
 *
 * Steps in flight ({@linkcode Scheduler.stepsAhead}): a greedy generation whose picks stay on the
 * device (feedGreedy with a token budget) does not wait for each pick to reach the host before the
 * next step is queued. After its first pick step, the scheduler queues up to `stepsAhead` steps
 * ahead of it (never more than its budget: max_tokens), each fed, on the device, the token the
 * previous step picked, and each first copying the slot's state and kept logits into a snapshot
 * buffer (the model's `stepAhead`, one per session in flight, in the same submission). The engine
 * consumes the picks in order: its next feedGreedy of the token it was given takes the oldest queued
 * step as that token's step, and queues another. Whatever ends the generation (a stop token or
 * string, max_tokens, a cancel, an abort, a slot taken for another session) leaves steps the engine
 * never fed: {@linkcode Scheduler.release} (and any other feed of the session, or a reload) first
 * puts the slot back from the oldest such step's snapshot, so the state and logits saved are, bit
 * for bit, those of a run that stopped with nothing in flight. A {@linkcode Scheduler.sync} while
 * steps are queued (a checkpoint) reads that snapshot instead, and the steps go on.
 *
 * @module
 */

import { type AheadEntry, checkToken, type RecurrentModel } from "../models/mod.ts";
import type { Session } from "./session.ts";

interface Feed {
  readonly session: Session;
  readonly tokens: readonly number[];
  /** Resolve with the greedy token the backend found, not the logits (see feedGreedy). */
  readonly argmax: boolean;
  /** Tokens the generation may feed after these (feedGreedy's budget): steps it may run ahead. */
  readonly ahead?: number;
  /** Tokens of `tokens` already run. */
  done: number;
  resolve(result: Float32Array | number): void;
  reject(err: unknown): void;
}

/** A greedy generation's steps queued ahead of the host (see the module's description). */
interface Ahead {
  /** Tokens the generation may still feed after those it has fed (its max_tokens left). */
  budget: number;
  /** The last pick handed to the generation: the token its next feedGreedy must bring. */
  expect: number | undefined;
  /** Steps queued, not yet taken by a feedGreedy, oldest first: each one's pick and snapshot. */
  readonly pending: { readonly pick: Promise<number>; readonly snapshot: number }[];
  /** Steps queued so far (each one's snapshot buffer is this modulo stepsAhead). */
  queued: number;
}

/** Default most steps a greedy generation runs ahead of the host (see {@linkcode Scheduler.stepsAhead}). */
export const DEFAULT_STEPS_AHEAD = 3;

/** The batching scheduler of one model. */
export class Scheduler {
  readonly #model: RecurrentModel;
  readonly #owner: (Session | undefined)[];
  readonly #slotOf = new Map<Session, number>();
  /** Sessions whose slot holds newer state than their host copy. */
  readonly #dirty = new Set<Session>();
  /** Sessions whose logits after their last token are in backend memory only (a feedGreedy). */
  readonly #logitsOnDevice = new Set<Session>();
  readonly #lastUse = new Map<Session, number>();
  readonly #ahead = new Map<Session, Ahead>();
  #queue: Feed[] = [];
  #aheadSteps = 0;
  #ticking = false;
  #steps = 0;
  #polled = 0;
  #hopsSincePoll = 0;

  /** A scheduler over `model`'s state slots. */
  constructor(model: RecurrentModel) {
    this.#model = model;
    this.#owner = new Array(model.slots).fill(undefined);
  }

  /**
   * Most steps a greedy generation with its picks on the device keeps queued ahead of the host (0:
   * each step waits for the previous pick). Snapshots hold this many copies of the state arena. Set
   * it while no generation runs ahead (each one's snapshots are numbered modulo this).
   */
  stepsAhead: number = DEFAULT_STEPS_AHEAD;

  /** Steps run so far (for tests and metrics). */
  get steps(): number {
    return this.#steps;
  }

  /** Steps queued ahead of the host so far (for tests and metrics). */
  get aheadSteps(): number {
    return this.#aheadSteps;
  }

  /**
   * Runs `tokens` on the session's state (in order, possibly over several steps shared with
   * other sessions) and resolves with the logits after the last one.
   */
  feed(session: Session, tokens: readonly number[]): Promise<Float32Array> {
    return this.#enqueue(session, tokens, false) as Promise<Float32Array>;
  }

  /**
   * As {@linkcode feed}, but resolves with the greedy next token (the index of the largest logit,
   * the first on ties) found by the backend, which reads back only that id; the logits stay in
   * backend memory until {@linkcode sync} copies them into `session.logits`. With `ahead` (the tokens
   * the generation may feed after these) the next steps are queued before this pick lands, fed the
   * picks on the device (see the module's description); the next feedGreedy must bring this pick.
   */
  feedGreedy(session: Session, tokens: readonly number[], ahead?: number): Promise<number> {
    const a = this.#ahead.get(session);
    if (a && a.pending.length > 0 && tokens.length === 1 && tokens[0] === a.expect) {
      // The token's step is queued already: take it as this feed's step.
      const step = a.pending.shift()!;
      session.tokens++;
      this.#dirty.add(session);
      this.#logitsOnDevice.add(session);
      this.#lastUse.set(session, this.#steps);
      a.budget = ahead ?? 0;
      a.expect = undefined;
      step.pick.then((id) => a.expect = id, () => {});
      this.#runAhead();
      return step.pick;
    }
    return this.#enqueue(session, tokens, true, ahead) as Promise<number>;
  }

  #enqueue(
    session: Session,
    tokens: readonly number[],
    argmax: boolean,
    ahead?: number,
  ): Promise<Float32Array | number> {
    if (tokens.length === 0) return Promise.reject(new RangeError("feed() needs at least one token"));
    try {
      for (const id of tokens) checkToken(id, this.#model.info.vocabSize);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#queue.some((f) => f.session === session)) {
      return Promise.reject(new Error("A session can have one feed in flight at a time"));
    }
    // Steps queued ahead that this feed does not take are undone first (queued before it).
    this.#dropAhead(session).catch(() => {});
    return new Promise((resolve, reject) => {
      this.#queue.push({ session, tokens, argmax, ahead, done: 0, resolve, reject });
      this.#schedule();
    });
  }

  /**
   * Brings the session's host state up to date with its slot (before a checkpoint); while it runs
   * ahead, with the state after the tokens it fed (the steps ahead go on).
   */
  async sync(session: Session): Promise<void> {
    const slot = this.#slotOf.get(session);
    if (slot === undefined) return;
    const a = this.#ahead.get(session);
    if (a && a.pending.length > 0) {
      // Running ahead: the state and logits after the tokens fed are the oldest unfed step's snapshot
      // (the steps go on; the flags say whether the host copy lags the tokens fed).
      const logits = this.#logitsOnDevice.delete(session), state = this.#dirty.delete(session);
      if (!logits && !state) return;
      const saved = await this.#model.readSnapshot(slot, a.pending[0].snapshot);
      if (logits) session.logits = saved.logits;
      if (state) session.state.data.set(saved.state);
      return;
    }
    if (this.#logitsOnDevice.delete(session)) session.logits = await this.#model.readLogits(slot);
    if (!this.#dirty.has(session)) return;
    session.state.data.set(await this.#model.readSlot(slot));
    this.#dirty.delete(session);
  }

  /**
   * Writes the session's host state into its slot again, after the caller changed the host copy
   * (synced first: a dirty slot would be overwritten); steps queued ahead are undone first.
   */
  reload(session: Session): void {
    const slot = this.#slotOf.get(session);
    if (slot === undefined) return;
    if (this.#dirty.has(session)) throw new Error("reload() needs the session's state synced first");
    this.#dropAhead(session).catch(() => {}); // queued before the write
    this.#model.writeSlot(slot, session.state);
  }

  /** Syncs the session's host state and gives its slot back (at the end of a prefill or generation). */
  async release(session: Session): Promise<void> {
    await this.#dropAhead(session);
    await this.sync(session);
    const slot = this.#slotOf.get(session);
    if (slot === undefined) return;
    this.#slotOf.delete(session);
    this.#lastUse.delete(session);
    this.#owner[slot] = undefined;
  }

  // One step per macrotask, so every generation woken by the last step has queued its next token.
  // Network I/O is polled only on a timer turn, so at least every POLL_MS the hop is a timer, and
  // every POLL_STEPS hops whatever the clock says (on Workers it stands still while code runs).
  #schedule(): void {
    if (this.#ticking) return;
    this.#ticking = true;
    const now = performance.now();
    const poll = now - this.#polled >= POLL_MS || ++this.#hopsSincePoll >= POLL_STEPS;
    if (poll) {
      this.#polled = now;
      this.#hopsSincePoll = 0;
    }
    (poll ? timerTurn() : macrotask()).then(() => this.#tick());
  }

  async #tick(): Promise<void> {
    try {
      await this.#step();
    } finally {
      this.#ticking = false;
      if (this.#queue.length > 0) this.#schedule();
    }
  }

  async #step(): Promise<void> {
    // Decode rows first (one token each), then prompt pieces in arrival order, within the budget.
    const ordered = [...this.#queue].sort((a, b) => Number(remaining(a) > 1) - Number(remaining(b) > 1));
    const batch: { feed: Feed; slot: number; take: number }[] = [];
    let budget = this.#model.chunk;
    for (const feed of ordered) {
      if (budget === 0) break;
      const slot = await this.#slotFor(feed.session, batch.map((b) => b.feed.session));
      if (slot === undefined) continue;
      const take = Math.min(remaining(feed), budget);
      batch.push({ feed, slot, take });
      budget -= take;
    }
    if (batch.length === 0) return;
    const entries = batch.map(({ feed, slot, take }) => ({
      slot,
      tokens: feed.tokens.slice(feed.done, feed.done + take),
      logits: feed.done + take === feed.tokens.length,
      argmax: feed.argmax,
    }));
    let logits: (Float32Array | number | undefined)[];
    try {
      // Only a step with a greedy pick in it goes through stepPicks (see feedGreedy).
      logits = entries.some((e) => e.argmax)
        ? await this.#model.stepPicks(entries)
        : await this.#model.step(entries);
    } catch (err) {
      for (const { feed } of batch) this.#finish(feed).reject(err);
      return;
    } finally {
      this.#steps++;
    }
    batch.forEach(({ feed, take }, i) => {
      feed.done += take;
      feed.session.tokens += take;
      this.#dirty.add(feed.session);
      this.#lastUse.set(feed.session, this.#steps);
      if (feed.done < feed.tokens.length) return;
      if (feed.argmax) this.#logitsOnDevice.add(feed.session);
      else this.#logitsOnDevice.delete(feed.session);
      if (feed.argmax && feed.ahead !== undefined && this.stepsAhead > 0) {
        this.#ahead.set(feed.session, {
          budget: feed.ahead,
          expect: logits[i] as number,
          pending: [],
          queued: 0,
        });
      }
    });
    // The next steps go in before the generations hear of these picks.
    this.#runAhead();
    batch.forEach(({ feed }, i) => {
      if (feed.done === feed.tokens.length) this.#finish(feed).resolve(logits[i]!);
    });
  }

  // Queues steps ahead until every session running ahead has min(stepsAhead, budget) queued; each
  // step takes one row of every session that has room, fed the token its last step picked.
  #runAhead(): void {
    for (;;) {
      const rows: { a: Ahead; entry: AheadEntry }[] = [];
      for (const [session, a] of this.#ahead) {
        const slot = this.#slotOf.get(session);
        if (slot === undefined || a.pending.length >= Math.min(this.stepsAhead, a.budget)) continue;
        if (rows.length === this.#model.chunk) break;
        rows.push({ a, entry: { slot, snapshot: a.queued % this.stepsAhead } });
      }
      if (rows.length === 0) return;
      let picks: Promise<number[]>;
      try {
        picks = this.#model.stepAhead(rows.map((r) => r.entry));
      } catch (err) {
        picks = Promise.reject(err); // heard by the generations when they feed these steps
      }
      this.#steps++;
      this.#aheadSteps++;
      rows.forEach(({ a, entry }, i) => {
        const pick = picks.then((p) => p[i]);
        pick.catch(() => {}); // a step never fed fails unheard
        a.pending.push({ pick, snapshot: entry.snapshot });
        a.queued++;
      });
    }
  }

  // Ends the session's run ahead: the slot is put back as the oldest step the session never fed
  // found it (that step and those after it are undone; the restore is queued before this returns).
  #dropAhead(session: Session): Promise<void> {
    const a = this.#ahead.get(session);
    if (!a) return Promise.resolve();
    this.#ahead.delete(session);
    const slot = this.#slotOf.get(session);
    if (slot === undefined || a.pending.length === 0) return Promise.resolve();
    return this.#model.restoreSnapshot(slot, a.pending[0].snapshot);
  }

  // Removes a feed from the queue and returns it.
  #finish(feed: Feed): Feed {
    this.#queue = this.#queue.filter((f) => f !== feed);
    return feed;
  }

  // The session's slot, loading its state into a free one or one whose session is idle the longest
  // (synced first); undefined when every slot is taken by sessions in this step or waiting to run.
  async #slotFor(session: Session, inStep: Session[]): Promise<number | undefined> {
    const have = this.#slotOf.get(session);
    if (have !== undefined) return have;
    let slot = this.#owner.indexOf(undefined);
    if (slot < 0) {
      const waiting = new Set([...inStep, ...this.#queue.map((f) => f.session)]);
      let oldest: Session | undefined;
      for (const s of this.#slotOf.keys()) {
        if (waiting.has(s)) continue;
        if (!oldest || this.#lastUse.get(s)! < this.#lastUse.get(oldest)!) oldest = s;
      }
      if (!oldest) return undefined;
      slot = this.#slotOf.get(oldest)!;
      await this.release(oldest);
    }
    this.#model.writeSlot(slot, session.state);
    this.#owner[slot] = session;
    this.#slotOf.set(session, slot);
    this.#lastUse.set(session, this.#steps);
    return slot;
  }
}

/**
 * Most milliseconds between timer turns. A message hop costs ~0.1 ms but lets no network I/O in
 * (requests, hang-ups, flushed streams wait for a timer turn); a timer turn costs 1–4 ms.
 */
const POLL_MS = 8;
const POLL_STEPS = 16;

function timerTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Resolves in a later turn of the event loop, at once: a message through a fresh channel. */
function macrotask(): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  return new Promise((resolve) => {
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(0);
  });
}

function remaining(feed: Feed): number {
  return feed.tokens.length - feed.done;
}

const schedulers = new WeakMap<RecurrentModel, Scheduler>();

/** The model's scheduler (one per model, made on first use). */
export function schedulerOf(model: RecurrentModel): Scheduler {
  let s = schedulers.get(model);
  if (!s) schedulers.set(model, s = new Scheduler(model));
  return s;
}
