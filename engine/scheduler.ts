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
 * A generation with its picks on the device may keep steps in flight (engine/steps_ahead.ts,
 * {@linkcode Scheduler.stepsAhead}): its next steps are queued before each pick lands.
 *
 * @module
 */

import { checkToken, type DevicePick, type RecurrentModel } from "../models/mod.ts";
import type { Session } from "./session.ts";
import { StepsAhead } from "./steps_ahead.ts";

/** How {@linkcode Scheduler.feedPicked} picks, and whether it may run ahead. */
export interface FeedPickOptions {
  /** Tokens the generation may feed after these: steps it may queue ahead (see engine/steps_ahead.ts). */
  readonly ahead?: number;
  /** The backend picks by this rule (the sampler's) instead of the largest logit. */
  readonly pick?: DevicePick;
  /**
   * With `pick` and `ahead`: the PRNG state `pick.u` came from; the steps ahead draw the uniforms that
   * follow it (and a penalized `pick`'s counts, the sampler's, go on on the device with each pick).
   */
  readonly rng?: number;
}

interface Feed {
  readonly session: Session;
  readonly tokens: readonly number[];
  /** Resolve with the greedy token the backend found, not the logits (see feedPicked). */
  readonly argmax: boolean;
  /** Tokens the generation may feed after these (feedPicked's budget): steps it may run ahead. */
  readonly ahead?: number;
  /** With `argmax`: the backend picks by this rule instead (see FeedPickOptions). */
  readonly pick?: DevicePick;
  /** The PRNG state `pick`'s uniform came from (a sampled run ahead's next uniforms follow it). */
  readonly rng?: number;
  /** Tokens of `tokens` already run. */
  done: number;
  resolve(result: Float32Array | number): void;
  reject(err: unknown): void;
}

/** The batching scheduler of one model. */
export class Scheduler {
  readonly #model: RecurrentModel;
  readonly #owner: (Session | undefined)[];
  readonly #slotOf = new Map<Session, number>();
  /** Sessions whose slot holds newer state than their host copy. */
  readonly #dirty = new Set<Session>();
  /** Sessions whose logits after their last token are in backend memory only (a feedPicked). */
  readonly #logitsOnDevice = new Set<Session>();
  readonly #lastUse = new Map<Session, number>();
  readonly #ahead: StepsAhead;
  #queue: Feed[] = [];
  #ticking = false;
  #steps = 0;
  #polled = 0;
  #hopsSincePoll = 0;

  /** A scheduler over `model`'s state slots. */
  constructor(model: RecurrentModel) {
    this.#model = model;
    this.#owner = new Array(model.slots).fill(undefined);
    this.#ahead = new StepsAhead(model, (session) => this.#slotOf.get(session));
  }

  /**
   * Most steps a generation with its picks on the device (greedy or sampled, penalties included) keeps
   * queued ahead of the host (0: each step waits for the previous pick; see engine/steps_ahead.ts).
   * Set it between generations.
   */
  get stepsAhead(): number {
    return this.#ahead.depth;
  }
  set stepsAhead(depth: number) {
    this.#ahead.depth = depth;
  }

  /** Steps run so far (for tests and metrics). */
  get steps(): number {
    return this.#steps;
  }

  /** Steps queued ahead of the host so far (for tests and metrics). */
  get aheadSteps(): number {
    return this.#ahead.steps;
  }

  /**
   * Runs `tokens` on the session's state (in order, possibly over several steps shared with
   * other sessions) and resolves with the logits after the last one.
   */
  feed(session: Session, tokens: readonly number[]): Promise<Float32Array> {
    return this.#enqueue(session, tokens, false) as Promise<Float32Array>;
  }

  /**
   * As {@linkcode feed}, but resolves with the next token the backend picked (the index of the largest
   * logit, the first on ties, or by `options.pick`), which reads back only that id; the logits stay in
   * backend memory until {@linkcode sync} copies them into `session.logits`. With `options.ahead` (the
   * tokens the generation may feed after these) the next steps are queued before this pick lands, fed
   * the picks on the device (see the module's description); the next feedPicked must bring this pick.
   */
  feedPicked(session: Session, tokens: readonly number[], options: FeedPickOptions = {}): Promise<number> {
    const { ahead, pick } = options;
    const queued = ahead === undefined ? undefined : this.#ahead.take(session, tokens, ahead, pick);
    if (queued) {
      // The token's step is queued already: it is this feed's step.
      session.tokens++;
      this.#dirty.add(session);
      this.#logitsOnDevice.add(session);
      this.#lastUse.set(session, this.#steps);
      this.#ahead.fill();
      return queued;
    }
    return this.#enqueue(session, tokens, true, options) as Promise<number>;
  }

  #enqueue(
    session: Session,
    tokens: readonly number[],
    argmax: boolean,
    options: FeedPickOptions = {},
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
    this.#ahead.drop(session).catch(() => {});
    return new Promise((resolve, reject) => {
      this.#queue.push({ session, tokens, argmax, ...options, done: 0, resolve, reject });
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
    const saved = this.#ahead.saved(session);
    if (saved !== undefined) {
      // Running ahead: the state and logits after the tokens fed are the oldest unfed step's snapshot
      // (the steps go on; the flags say whether the host copy lags the tokens fed).
      const logits = this.#logitsOnDevice.delete(session), state = this.#dirty.delete(session);
      if (!logits && !state) return;
      const read = await this.#model.readSnapshot(slot, saved);
      if (logits) session.logits = read.logits;
      if (state) session.state.data.set(read.state);
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
    this.#ahead.drop(session).catch(() => {}); // queued before the write
    this.#model.writeSlot(slot, session.state);
  }

  /** Syncs the session's host state and gives its slot back (at the end of a prefill or generation). */
  async release(session: Session): Promise<void> {
    await this.#ahead.drop(session);
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
      pick: feed.pick,
    }));
    let logits: (Float32Array | number | undefined)[];
    try {
      // Only a step with a greedy pick in it goes through stepPicks (see feedPicked).
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
      if (feed.argmax && feed.ahead !== undefined) {
        const rule = feed.pick && { pick: feed.pick, rng: feed.rng ?? 0 };
        this.#ahead.start(feed.session, feed.ahead, logits[i] as number, rule);
      }
    });
    // The next steps go in before the generations hear of these picks.
    this.#ahead.fill();
    batch.forEach(({ feed }, i) => {
      if (feed.done === feed.tokens.length) this.#finish(feed).resolve(logits[i]!);
    });
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
