/**
 * Sessions kept in a StateStore: create, generate (checkpointed, leased, its
 * events logged), follow a generation from any instance, fork, export and
 * import. A generation runs detached from the request that started it, so a
 * client that disconnects does not stop it from being saved; an instance that
 * finds a running generation whose lease expired (its generator crashed)
 * resumes it from the last checkpoint, deterministically.
 *
 * @module
 */

import { StopFlag } from "./stop_flag.ts";
import type { LoadedModel } from "../models/mod.ts";
import type {
  GenerationRecord,
  SessionMeta,
  StateStore,
  StoredEvent,
  VersionedMeta,
} from "../store/types.ts";
import { BlobMissingError, SessionNotFoundError } from "../store/types.ts";
import { InvalidRequestError, ModelUnavailableError, SessionBusyError, ShuttingDownError } from "./errors.ts";
import { followGeneration } from "./follow.ts";
import { GenerationRunner, type StoredRequest } from "./generation_runner.ts";
import type { Principal } from "./principal.ts";
import { checkQuota, type SessionQuota } from "./quota.ts";
import { findSession, newSessionId } from "./session_access.ts";
import { newSamplerState, type SamplingParams } from "./sampler.ts";
import { newSession, prefill, randomSeed } from "./session.ts";
import { decodeStateBlob, encodeStateBlob, type StateDType } from "./state_blob.ts";
import { timedStore } from "./timed_store.ts";
import { compileResponseFormat, type ResponseFormat } from "./constraint/mod.ts";

/** What a generation was asked to do; stored with it so another instance can resume it. */
export interface SessionGenerateRequest {
  /** Tokens appended before generating. */
  readonly prompt: readonly number[];
  /** Most tokens to generate. */
  readonly maxTokens: number;
  /** How to pick tokens. */
  readonly sampling: SamplingParams;
  /** Reseeds the session's PRNG for this generation. */
  readonly seed?: number;
  /** Stop strings. */
  readonly stop?: readonly string[];
  /** Stop token ids. */
  readonly stopTokenIds?: readonly number[];
  /** Keep going past end-of-text. */
  readonly ignoreEos?: boolean;
  /** Report logprobs with this many alternatives. */
  readonly logprobs?: number;
  /** Structured output: JSON, or JSON that follows a schema (InvalidRequestError if unsupported). */
  readonly responseFormat?: ResponseFormat;
}

/** Options of {@linkcode SessionService}. */
export interface SessionServiceOptions {
  /** Where sessions live. */
  readonly store: StateStore;
  /** The models this instance serves, by id. */
  readonly models: ReadonlyMap<string, LoadedModel>;
  /** The model used when none is named. */
  readonly defaultModel: string;
  /** Checkpoint (state + events) every this many tokens (default 16). */
  readonly checkpointEvery?: number;
  /** Lease time; renewed by a heartbeat every third of it (default 10 s). */
  readonly leaseMs?: number;
  /** How often a follower on another instance polls the store (default 100 ms). */
  readonly pollMs?: number;
  /** Most live sessions and stored bytes per principal (default: unlimited). */
  readonly quota?: SessionQuota;
  /** How sessions' states are stored (default f32; bf16 halves a blob, see engine/state_header.ts). */
  readonly stateDType?: StateDType;
  /**
   * Most tokens a generation makes per invocation before it checkpoints and pauses (a `paused`
   * event; the next follower continues it). Default: unlimited (a Worker sets its CPU budget).
   */
  readonly tokensPerInvocation?: number;
  /**
   * Told the session id of each generation run that pauses at its token budget (a Durable Object
   * remembers it so that its alarm carries the generation on).
   */
  readonly onPause?: (id: string) => void;
}

/** Forks retried when the parent's blob was collected under them (a checkpoint moved the parent on). */
const FORK_ATTEMPTS = 5;

/** See the module documentation. */
export class SessionService {
  readonly #store: StateStore;
  readonly #models: ReadonlyMap<string, LoadedModel>;
  readonly #defaultModel: string;
  readonly #every: number;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #quota: SessionQuota | undefined;
  readonly #stateDType: StateDType;
  readonly #runner: GenerationRunner;
  readonly #closing = new StopFlag();
  #closingSignal?: AbortController;

  /** A service over a store and the models this instance serves. */
  constructor(options: SessionServiceOptions) {
    this.#store = timedStore(options.store);
    this.#models = options.models;
    this.#defaultModel = options.defaultModel;
    this.#every = options.checkpointEvery ?? 16;
    this.#leaseMs = options.leaseMs ?? 10_000;
    this.#pollMs = options.pollMs ?? 100;
    this.#quota = options.quota;
    this.#stateDType = options.stateDType ?? "f32";
    this.#runner = new GenerationRunner(this.#store, {
      stateDType: this.#stateDType,
      tokensPerInvocation: options.tokensPerInvocation,
      onPause: options.onPause,
      checkpointEvery: this.#every,
      leaseMs: this.#leaseMs,
      model: (name) => this.model(name),
    });
  }

  /** Resolves when the store answers a read; rejects with the store's error otherwise. */
  async ping(): Promise<void> {
    await this.#store.get("ready-probe");
  }

  /**
   * Aborted (with a ShuttingDownError) once {@linkcode SessionService.stop} is called. Made on
   * first use, for the Deno server's shutdown; the engine itself reads a plain flag (workerd
   * allows no AbortController shared between requests).
   */
  get closing(): AbortSignal {
    if (!this.#closingSignal) {
      this.#closingSignal = new AbortController();
      if (this.#closing.aborted) this.#closingSignal.abort(this.#closing.reason);
    }
    return this.#closingSignal.signal;
  }

  /** Whether {@linkcode SessionService.stop} was called. */
  get stopping(): boolean {
    return this.#closing.aborted;
  }

  /** The model a session (or a request naming `name`) uses; ModelUnavailableError if not served here. */
  model(name?: string): LoadedModel {
    const loaded = this.#models.get(name ?? this.#defaultModel);
    if (!loaded) throw new ModelUnavailableError(name ?? this.#defaultModel);
    return loaded;
  }

  /** Creates a session for `who`, prefilling `prompt` (in slices, yielding between them) before it returns. */
  async create(
    modelName: string | undefined,
    prompt: readonly number[],
    who: Principal,
  ): Promise<SessionMeta> {
    const loaded = this.model(modelName);
    const session = newSession(loaded, randomSeed());
    await checkQuota(this.#store, who, loaded.model.info.stateSize * 4, this.#quota);
    await prefill(loaded, session, prompt, this.#closing);
    const blob = encodeStateBlob(loaded, session, this.#stateDType);
    return await this.#publishNew(loaded, session.tokens, blob, who);
  }

  /** The session's metadata and whether a generation is running on it. */
  async info(id: string, who: Principal): Promise<{ meta: SessionMeta; generating: boolean }> {
    const found = await this.#find(id, who);
    return { meta: found.meta, generating: (await this.#store.lease(id)) !== undefined };
  }

  /** Deletes a session; SessionNotFoundError if `who` has none by that id. */
  async delete(id: string, who: Principal): Promise<void> {
    await this.#find(id, who);
    if (await this.#store.lease(id)) throw new SessionBusyError(id);
    if (!await this.#store.delete(id)) throw new SessionNotFoundError(id);
  }

  /** A new session of `who` at the same point, sharing the stored state (no copy). */
  async fork(id: string, who: Principal): Promise<SessionMeta> {
    for (let attempt = 1;; attempt++) {
      const found = await this.#find(id, who);
      await checkQuota(this.#store, who, found.meta.stateBytes, this.#quota);
      const now = Date.now();
      const { generation: _, ...rest } = found.meta;
      const meta: SessionMeta = {
        ...rest,
        id: newSessionId(),
        owner: who.id,
        createdAt: now,
        updatedAt: now,
      };
      try {
        if (!await this.#store.publish(meta, undefined)) throw new Error("Session id collision");
        return meta;
      } catch (err) {
        // A checkpoint superseded the parent's blob between our read and our publish: read it again.
        if (!(err instanceof BlobMissingError) || attempt === FORK_ATTEMPTS) throw err;
      }
    }
  }

  /** The session's state blob (to move it to another deployment). */
  async exportState(id: string, who: Principal): Promise<Uint8Array> {
    const found = await this.#find(id, who);
    return await this.#store.readBlob(found.meta.blob);
  }

  /** A new session of `who` from a blob made by `exportState` (StateFormatError if it is not a state of `modelName`). */
  async importSession(blob: Uint8Array, who: Principal, modelName?: string): Promise<SessionMeta> {
    const loaded = this.model(modelName);
    const session = decodeStateBlob(loaded, blob);
    await checkQuota(this.#store, who, blob.length, this.#quota);
    return await this.#publishNew(loaded, session.tokens, blob, who);
  }

  /** Replaces the state of an existing session of `who` with a blob from `exportState` (validated first). */
  async importState(id: string, blob: Uint8Array, who: Principal): Promise<SessionMeta> {
    const found = await this.#find(id, who);
    const loaded = this.model(found.meta.model);
    const session = decodeStateBlob(loaded, blob);
    await checkQuota(this.#store, who, blob.length - found.meta.stateBytes, this.#quota, 0);
    const owner = crypto.randomUUID();
    if (!await this.#store.acquireLease(id, owner, this.#leaseMs)) throw new SessionBusyError(id);
    try {
      const { generation: _, ...rest } = found.meta;
      const meta: SessionMeta = {
        ...rest,
        tokens: session.tokens,
        stateBytes: blob.length,
        updatedAt: Date.now(),
        blob: await this.#store.putBlob(blob),
      };
      if (!await this.#store.publish(meta, found.version)) throw new SessionBusyError(id);
      return meta;
    } finally {
      await this.#store.releaseLease(id, owner);
    }
  }

  /** The model a session of `who` uses (to size an upload before reading it). */
  async modelOf(id: string, who: Principal): Promise<LoadedModel> {
    return this.model((await this.#find(id, who)).meta.model);
  }

  #find(id: string, who: Principal): Promise<VersionedMeta> {
    return findSession(this.#store, id, who);
  }

  async #publishNew(loaded: LoadedModel, tokens: number, blob: Uint8Array, who: Principal) {
    const now = Date.now();
    const meta: SessionMeta = {
      id: newSessionId(),
      model: loaded.id,
      fingerprint: loaded.fingerprint,
      owner: who.id,
      tokens,
      stateBytes: blob.length,
      createdAt: now,
      updatedAt: now,
      blob: await this.#store.putBlob(blob),
    };
    if (!await this.#store.publish(meta, undefined)) throw new Error("Session id collision");
    return meta;
  }

  /**
   * Starts a generation: takes the session's lease (SessionBusyError if another generation holds
   * it), appends the prompt, publishes the first checkpoint and runs on in the background.
   * Returns the generation's id and the position of its first token; follow it with `follow()`.
   */
  async startGeneration(
    id: string,
    req: SessionGenerateRequest,
    who: Principal,
  ): Promise<{ generationId: string; start: number }> {
    await this.#find(id, who);
    compileResponseFormat(req.responseFormat); // refuse an unsupported schema before taking the lease
    // Each generation holds the lease under its own token: two requests in one process exclude each other too.
    const owner = crypto.randomUUID();
    if (!await this.#store.acquireLease(id, owner, this.#leaseMs)) throw new SessionBusyError(id);
    this.#runner.holdLease(id, owner);
    try {
      const found = await this.#find(id, who);
      const loaded = this.model(found.meta.model);
      const session = decodeStateBlob(loaded, await this.#store.readBlob(found.meta.blob));
      if (req.seed !== undefined) {
        session.sampler = { ...session.sampler, rng: newSamplerState(req.seed).rng };
      }
      session.constraint = undefined; // left by a generation that never finished: this one starts afresh
      if (req.prompt.length === 0 && session.logits === undefined) {
        throw new InvalidRequestError(
          "The session is empty and the request has no prompt: send some text to start from",
          "prompt",
        );
      }
      await prefill(loaded, session, req.prompt, this.#closing);
      const stored: StoredRequest = {
        promptTokens: req.prompt.length,
        maxTokens: req.maxTokens,
        sampling: req.sampling,
        stop: [...req.stop ?? []],
        stopTokenIds: [...req.stopTokenIds ?? []],
        ignoreEos: req.ignoreEos ?? false,
        logprobs: req.logprobs,
        ...(req.responseFormat ? { responseFormat: req.responseFormat } : {}),
      };
      const generation: GenerationRecord = {
        id: crypto.randomUUID(),
        status: "running",
        start: session.tokens,
        request: stored,
        checkpoint: session.tokens,
        heldText: "",
      };
      const version = await this.#runner.checkpoint(
        loaded,
        session,
        found.meta,
        found.version,
        generation,
        [],
      );
      this.#runner.start(loaded, session, found.meta, version, generation, owner);
      return { generationId: generation.id, start: generation.start };
    } catch (err) {
      await this.#runner.release(id, owner);
      throw err;
    }
  }

  /**
   * Stops the session's generation before its next token: it checkpoints and ends with finish
   * reason "cancelled" (followers see its `done` event). A generation paused at its token budget
   * (or cut by a crash) is taken over here to end so. "idle" when none is running; "elsewhere"
   * when another instance runs it (only the instance running a generation can stop it).
   */
  async cancel(id: string, who: Principal): Promise<"cancelled" | "idle" | "elsewhere"> {
    const found = await this.#find(id, who);
    if (this.#runner.cancel(id)) return "cancelled";
    if (found.meta.generation?.status !== "running") return "idle";
    if (await this.#store.lease(id) !== undefined) return "elsewhere";
    await this.#runner.resume(id);
    return this.#runner.cancel(id) ? "cancelled" : "idle";
  }

  /**
   * The events of the session's current or last generation after position `after` (all of them
   * when undefined), then the live ones until it ends, on whichever instance runs it. If that
   * generation was cut by a crash (running, lease expired), this instance resumes it. A run that
   * pauses at its token budget ends the events with `paused`, or with `throughPauses` is continued
   * here at once (a JSON answer has no later request to continue it).
   */
  follow(
    id: string,
    who: Principal,
    options: { after?: number; generationId?: string; throughPauses?: boolean } = {},
  ): AsyncGenerator<StoredEvent> {
    const context = {
      store: this.#store,
      runner: this.#runner,
      pollMs: this.#pollMs,
      closing: this.#closing,
    };
    return followGeneration(context, id, who, options);
  }

  /**
   * Carries session `id`'s running generation on in this instance until it pauses or ends: takes
   * it over when its lease is free (a paused run, or one whose generator crashed), else waits for
   * the run this instance has. Then says where it stands: "done" (or no generation), "paused"
   * (unfinished, lease free) or "elsewhere" (another instance holds its lease). What a Durable
   * Object's alarm calls to continue a generation no client follows.
   */
  async advance(id: string): Promise<"done" | "paused" | "elsewhere"> {
    if (!this.#runner.live.has(id)) await this.#runner.resume(id);
    await this.#runner.drain();
    if ((await this.#store.get(id))?.meta.generation?.status !== "running") return "done";
    return await this.#store.lease(id) ? "elsewhere" : "paused";
  }

  /** Deletes stored state that no session uses any more (expired sessions, crashed writes). */
  sweep(): Promise<number> {
    return this.#store.sweep(10 * 60 * 1000);
  }

  /** Waits for the generations this instance runs to finish (tests and graceful shutdown). */
  drain(): Promise<void> {
    return this.#runner.drain();
  }

  /**
   * Stops what this instance runs, for a shutdown past its drain deadline: each generation
   * checkpoints where it is, releases its lease (so another instance resumes it at once) and ends
   * its streams with an error event naming the reason; followers polling other instances end too.
   * Resolves once the generations have saved.
   */
  async stop(): Promise<void> {
    this.#closing.stop(new ShuttingDownError());
    this.#closingSignal?.abort(this.#closing.reason);
    this.#runner.stop(new ShuttingDownError());
    await this.#runner.drain();
  }
}
