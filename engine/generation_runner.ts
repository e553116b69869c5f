/**
 * Runs a session's generation in this process, detached from any request:
 * samples token by token, logs each event for live followers, checkpoints the
 * state with the logged events every K tokens (and renews the lease), and
 * publishes the final state. Also takes over a generation whose generator
 * crashed, from its last checkpoint. With a token budget per invocation (a
 * Worker request's CPU time is limited, and its clock stands still while code
 * runs, so pacing counts tokens), a run that reaches it checkpoints, gives the
 * lease back and ends with a `paused` event; the next follower (or a Durable
 * Object's alarm) continues it from that checkpoint, exactly.
 *
 * @module
 */

import { StopFlag } from "./stop_flag.ts";
import type { LoadedModel } from "../models/mod.ts";
import type { GenerationRecord, SessionMeta, StateStore, StoredEvent } from "../store/types.ts";
import { SessionBusyError } from "./errors.ts";
import { observeGeneration } from "./generation_metrics.ts";
import { generate, type GenerateRequest, type GenerationEvent } from "./generate.ts";
import { LeaseHeartbeat } from "./lease_heartbeat.ts";
import { announcer, LiveGeneration } from "./live.ts";
import type { SamplingParams } from "./sampler.ts";
import { reloadState, type Session, syncState } from "./session.ts";
import { decodeStateBlob, encodeStateBlob, roundToBf16, type StateDType } from "./state_blob.ts";
import { compileResponseFormat, type ResponseFormat } from "./constraint/mod.ts";

/** A generation's request as stored with it (JSON), so another instance can resume it. */
export interface StoredRequest {
  promptTokens: number;
  maxTokens: number;
  sampling: SamplingParams;
  stop: string[];
  stopTokenIds: number[];
  ignoreEos: boolean;
  logprobs?: number;
  /** Structured output; the automaton's position is in the session's state blob. */
  responseFormat?: ResponseFormat;
}

/** Options of {@linkcode GenerationRunner}. */
export interface GenerationRunnerOptions {
  /** Checkpoint every this many tokens. */
  readonly checkpointEvery: number;
  /** Lease time; renewed by a heartbeat every third of it, and at every checkpoint. */
  readonly leaseMs: number;
  /** The served model a session names. */
  readonly model: (name: string) => LoadedModel;
  /** How checkpoints store the state (default f32; bf16 rounds the live state to it as well). */
  readonly stateDType?: StateDType;
  /** Most tokens one run (a start or a resume) generates before it pauses (default: unlimited). */
  readonly tokensPerInvocation?: number;
  /** Told the session id of each run that pauses, once its checkpoint is in and its lease free. */
  readonly onPause?: (id: string) => void;
}

/** See the module documentation. */
export class GenerationRunner {
  /** Generations running in this process, by session id, for local followers. */
  readonly live = new Map<string, LiveGeneration>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #store: StateStore;
  readonly #every: number;
  readonly #leaseMs: number;
  readonly #model: (name: string) => LoadedModel;
  readonly #stateDType: StateDType;
  readonly #budget: number;
  readonly #onPause?: (id: string) => void;
  readonly #stop = new StopFlag();
  /** Lease heartbeats, by lease owner (one per generation). */
  readonly #heartbeats = new Map<string, LeaseHeartbeat>();

  /** A runner over `store`. */
  constructor(store: StateStore, options: GenerationRunnerOptions) {
    this.#store = store;
    this.#every = options.checkpointEvery;
    this.#leaseMs = options.leaseMs;
    this.#model = options.model;
    this.#stateDType = options.stateDType ?? "f32";
    this.#budget = options.tokensPerInvocation || Infinity;
    this.#onPause = options.onPause;
  }

  /** Waits for every generation this runner started to finish. */
  async drain(): Promise<void> {
    while (this.#tasks.size) await Promise.all([...this.#tasks]);
  }

  /** Stops every generation at its next token: each checkpoints where it is and ends with `reason`. */
  stop(reason: Error): void {
    this.#stop.stop(reason);
  }

  /**
   * Ends session `id`'s generation before its next token, if it runs here: it checkpoints and ends
   * with finish reason "cancelled". Returns whether one was running here.
   */
  cancel(id: string): boolean {
    const live = this.live.get(id);
    if (live) live.cancelled = true;
    return live !== undefined;
  }

  /** Takes over generation of session `id` if it is running and its lease is free. */
  async resume(id: string): Promise<void> {
    if (this.#stop.aborted) return;
    const owner = crypto.randomUUID();
    if (!await this.#store.acquireLease(id, owner, this.#leaseMs)) return;
    this.holdLease(id, owner);
    try {
      const found = await this.#store.get(id);
      const gen = found?.meta.generation;
      if (!found || !gen || gen.status !== "running") {
        await this.#release(id, owner);
        return;
      }
      const loaded = this.#model(found.meta.model);
      const session = decodeStateBlob(loaded, await this.#store.readBlob(found.meta.blob));
      this.start(loaded, session, found.meta, found.version, gen, owner);
    } catch (err) {
      await this.#release(id, owner);
      throw err;
    }
  }

  /** Runs generation `gen` of a session whose lease `owner` holds, in the background. */
  start(
    loaded: LoadedModel,
    session: Session,
    meta: SessionMeta,
    version: string,
    gen: GenerationRecord,
    owner: string,
  ): void {
    const live = new LiveGeneration(gen.id, gen.checkpoint, announcer(this.#store, meta.id, gen.id));
    this.live.set(meta.id, live);
    // Nothing here may reject: a store error at the end of a generation must not end the process.
    const task = this.#generate(loaded, session, meta, version, gen, live, owner)
      .catch((err) => {
        // Live followers only: the durable log keeps the generation resumable from its last checkpoint.
        const message = err instanceof Error ? err.message : String(err);
        live.push({ position: session.tokens, event: "error", data: JSON.stringify({ message }) });
        if (err !== this.#stop.reason) console.error(`generation on session ${meta.id} failed:`, err);
      })
      .then(async () => {
        live.end();
        if (this.live.get(meta.id) === live) this.live.delete(meta.id);
        await this.#release(meta.id, owner);
      })
      .finally(() => this.#tasks.delete(task));
    this.#tasks.add(task);
  }

  async #generate(
    loaded: LoadedModel,
    session: Session,
    meta: SessionMeta,
    version: string,
    gen: GenerationRecord,
    live: LiveGeneration,
    owner: string,
  ): Promise<void> {
    const req = gen.request as StoredRequest;
    const request: GenerateRequest = {
      prompt: [],
      maxTokens: req.maxTokens - (gen.checkpoint - gen.start),
      sampling: req.sampling,
      stop: req.stop,
      stopTokenIds: req.stopTokenIds,
      ignoreEos: req.ignoreEos,
      logprobs: req.logprobs,
      heldText: gen.heldText,
      grammar: compileResponseFormat(req.responseFormat),
    };
    let pending: StoredEvent[] = [];
    let heldText = gen.heldText;
    let lastCheckpoint = performance.now();
    const signal = this.#stop;
    const events = observeGeneration(generate(loaded, session, { ...request, signal, cancel: live }), 0);
    let produced = 0;
    while (true) {
      let next: IteratorResult<GenerationEvent>;
      try {
        next = await events.next();
      } catch (err) {
        // Stopped for a shutdown: save what was generated so the next instance continues from here.
        if (err === signal.reason && pending.length > 0) {
          await this.checkpoint(loaded, session, meta, version, {
            ...gen,
            checkpoint: session.tokens,
            heldText,
          }, pending);
        }
        throw err;
      }
      if (next.done) break;
      const ev = next.value;
      if (ev.type === "token") {
        const data: Record<string, unknown> = { text: ev.text, token_id: ev.tokenId };
        if (ev.logprob !== undefined) data.logprob = ev.logprob;
        if (ev.top) {
          data.top_logprobs = ev.top.map((t) => ({ token: t.text, token_id: t.tokenId, logprob: t.logprob }));
        }
        const event: StoredEvent = { position: ev.position, event: "token", data: JSON.stringify(data) };
        pending.push(event);
        live.push(event);
        heldText = ev.heldText;
        if (pending.length >= this.#every || performance.now() - lastCheckpoint > this.#leaseMs / 4) {
          const record = { ...gen, checkpoint: session.tokens, heldText };
          version = await this.checkpoint(loaded, session, meta, version, record, pending);
          pending = [];
          lastCheckpoint = performance.now();
          if (!await this.#store.acquireLease(meta.id, owner, this.#leaseMs)) {
            throw new Error("Lost the session's lease while generating");
          }
        }
        if (++produced >= this.#budget && session.tokens - gen.start < req.maxTokens) {
          if (pending.length > 0) {
            const record = { ...gen, checkpoint: session.tokens, heldText };
            await this.checkpoint(loaded, session, meta, version, record, pending);
          }
          await events.return(undefined);
          await this.#pause(meta.id, owner, live, session.tokens, produced);
          return;
        }
      } else {
        const generated = session.tokens - gen.start;
        const data = {
          finish_reason: ev.finishReason,
          text: ev.text,
          usage: {
            prompt_tokens: req.promptTokens,
            completion_tokens: generated,
            total_tokens: req.promptTokens + generated,
          },
        };
        const event: StoredEvent = { position: session.tokens, event: "done", data: JSON.stringify(data) };
        pending.push(event);
        const done: GenerationRecord = {
          ...gen,
          status: "done",
          checkpoint: session.tokens,
          heldText: "",
          finishReason: ev.finishReason,
        };
        await this.checkpoint(loaded, session, meta, version, done, pending);
        // Free the session before anyone hears it is done, so their next request finds it free.
        await this.#release(meta.id, owner);
        live.push(event);
      }
    }
  }

  /**
   * Ends this run of a generation whose state is checkpointed at `tokens`: frees the lease and
   * forgets the live run before followers hear of the pause, so whoever continues it finds it
   * free. The `paused` event is live only (never logged): the log resumes as if nothing happened.
   */
  async #pause(id: string, owner: string, live: LiveGeneration, tokens: number, produced: number) {
    await this.#release(id, owner);
    if (this.live.get(id) === live) this.live.delete(id);
    const data = { tokens, generated: produced, budget: this.#budget };
    live.push({ position: tokens - 1, event: "paused", data: JSON.stringify(data) });
    this.#onPause?.(id);
  }

  /** Keeps the lease `owner` just acquired on session `id` alive until {@linkcode release}. */
  holdLease(id: string, owner: string): void {
    this.#heartbeats.set(owner, new LeaseHeartbeat(this.#store, id, owner, this.#leaseMs));
  }

  /** Stops the lease's heartbeat and gives the lease back (never throws). */
  release(id: string, owner: string): Promise<void> {
    return this.#release(id, owner);
  }

  // Gives the lease back; a store error only delays the next generation until the lease expires.
  async #release(id: string, owner: string): Promise<void> {
    await this.#heartbeats.get(owner)?.stop();
    this.#heartbeats.delete(owner);
    try {
      await this.#store.releaseLease(id, owner);
    } catch (err) {
      console.error(`releasing the lease of session ${id} failed (it expires in ${this.#leaseMs} ms):`, err);
    }
  }

  /** Writes the session's state as a new blob and publishes it with the generation record and events. */
  async checkpoint(
    loaded: LoadedModel,
    session: Session,
    meta: SessionMeta,
    version: string,
    generation: GenerationRecord,
    events: StoredEvent[],
  ): Promise<string> {
    await syncState(loaded, session);
    if (this.#stateDType === "bf16") {
      // The generation goes on from exactly the state a resume from this checkpoint would load.
      roundToBf16(session.state.data);
      reloadState(loaded, session);
    }
    const blob = encodeStateBlob(loaded, session, this.#stateDType);
    const next: SessionMeta = {
      ...meta,
      tokens: session.tokens,
      stateBytes: blob.length,
      updatedAt: Date.now(),
      blob: await this.#store.putBlob(blob),
      generation,
    };
    const published = await this.#store.publish(next, version, events);
    if (!published) throw new SessionBusyError(meta.id);
    return published;
  }
}
