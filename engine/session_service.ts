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

import type { LoadedModel } from "../models/mod.ts";
import type { GenerationRecord, SessionMeta, StateStore, StoredEvent } from "../store/mod.ts";
import { SessionNotFoundError } from "../store/mod.ts";
import { ModelUnavailableError, SessionBusyError } from "./errors.ts";
import { GenerationRunner, type StoredRequest } from "./generation_runner.ts";
import { newSamplerState, type SamplingParams } from "./sampler.ts";
import { appendTokens, newSession, randomSeed } from "./session.ts";
import { decodeStateBlob, encodeStateBlob } from "./state_blob.ts";

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
  /** Lease time; renewed at every checkpoint (default 10 s). */
  readonly leaseMs?: number;
  /** How often a follower on another instance polls the store (default 100 ms). */
  readonly pollMs?: number;
}

/** A new session's id: 128 random bits, hex. */
export function newSessionId(): string {
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** See the module documentation. */
export class SessionService {
  readonly #store: StateStore;
  readonly #models: ReadonlyMap<string, LoadedModel>;
  readonly #defaultModel: string;
  readonly #every: number;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #runner: GenerationRunner;

  /** A service over a store and the models this instance serves. */
  constructor(options: SessionServiceOptions) {
    this.#store = options.store;
    this.#models = options.models;
    this.#defaultModel = options.defaultModel;
    this.#every = options.checkpointEvery ?? 16;
    this.#leaseMs = options.leaseMs ?? 10_000;
    this.#pollMs = options.pollMs ?? 100;
    this.#runner = new GenerationRunner(this.#store, {
      checkpointEvery: this.#every,
      leaseMs: this.#leaseMs,
      model: (name) => this.model(name),
    });
  }

  /** The model a session (or a request naming `name`) uses; ModelUnavailableError if not served here. */
  model(name?: string): LoadedModel {
    const loaded = this.#models.get(name ?? this.#defaultModel);
    if (!loaded) throw new ModelUnavailableError(name ?? this.#defaultModel);
    return loaded;
  }

  /** Creates a session, prefilling `prompt` (chunked) before it returns. */
  async create(modelName: string | undefined, prompt: readonly number[]): Promise<SessionMeta> {
    const loaded = this.model(modelName);
    const session = newSession(loaded, randomSeed());
    appendTokens(loaded, session, prompt);
    const now = Date.now();
    const blob = encodeStateBlob(loaded, session);
    const meta: SessionMeta = {
      id: newSessionId(),
      model: loaded.id,
      fingerprint: loaded.fingerprint,
      tokens: session.tokens,
      stateBytes: blob.length,
      createdAt: now,
      updatedAt: now,
      blob: await this.#store.putBlob(blob),
    };
    if (!await this.#store.publish(meta, undefined)) throw new Error("Session id collision");
    return meta;
  }

  /** The session's metadata and whether a generation is running on it. */
  async info(id: string): Promise<{ meta: SessionMeta; generating: boolean }> {
    const found = await this.#store.get(id);
    if (!found) throw new SessionNotFoundError(id);
    return { meta: found.meta, generating: (await this.#store.lease(id)) !== undefined };
  }

  /** Deletes a session; false if there was none. */
  async delete(id: string): Promise<boolean> {
    if (await this.#store.lease(id)) throw new SessionBusyError(id);
    return await this.#store.delete(id);
  }

  /** A new session at the same point, sharing the stored state (no copy). */
  async fork(id: string): Promise<SessionMeta> {
    const found = await this.#store.get(id);
    if (!found) throw new SessionNotFoundError(id);
    const now = Date.now();
    const { generation: _, ...rest } = found.meta;
    const meta: SessionMeta = { ...rest, id: newSessionId(), createdAt: now, updatedAt: now };
    if (!await this.#store.publish(meta, undefined)) throw new Error("Session id collision");
    return meta;
  }

  /** The session's state blob (to move it to another deployment). */
  async exportState(id: string): Promise<Uint8Array> {
    const found = await this.#store.get(id);
    if (!found) throw new SessionNotFoundError(id);
    return await this.#store.readBlob(found.meta.blob);
  }

  /**
   * Replaces a session's state with a blob from `exportState` (validated against the model first:
   * StateFormatError if it is not one of its states). Creates the session if `id` is new.
   */
  async importState(id: string, blob: Uint8Array, modelName?: string): Promise<SessionMeta> {
    const found = await this.#store.get(id);
    const loaded = this.model(found?.meta.model ?? modelName);
    const session = decodeStateBlob(loaded, blob);
    const owner = crypto.randomUUID();
    if (!await this.#store.acquireLease(id, owner, this.#leaseMs)) throw new SessionBusyError(id);
    try {
      const now = Date.now();
      const meta: SessionMeta = {
        id,
        model: loaded.id,
        fingerprint: loaded.fingerprint,
        tokens: session.tokens,
        stateBytes: blob.length,
        createdAt: found?.meta.createdAt ?? now,
        updatedAt: now,
        blob: await this.#store.putBlob(blob),
      };
      if (!await this.#store.publish(meta, found?.version)) throw new SessionBusyError(id);
      return meta;
    } finally {
      await this.#store.releaseLease(id, owner);
    }
  }

  /**
   * Starts a generation: takes the session's lease (SessionBusyError if another generation holds
   * it), appends the prompt, publishes the first checkpoint and runs on in the background.
   * Returns the generation's id and the position of its first token; follow it with `follow()`.
   */
  async startGeneration(
    id: string,
    req: SessionGenerateRequest,
  ): Promise<{ generationId: string; start: number }> {
    // Each generation holds the lease under its own token: two requests in one process exclude each other too.
    const owner = crypto.randomUUID();
    if (!await this.#store.acquireLease(id, owner, this.#leaseMs)) throw new SessionBusyError(id);
    try {
      const found = await this.#store.get(id);
      if (!found) throw new SessionNotFoundError(id);
      const loaded = this.model(found.meta.model);
      const session = decodeStateBlob(loaded, await this.#store.readBlob(found.meta.blob));
      if (req.seed !== undefined) {
        session.sampler = { ...session.sampler, rng: newSamplerState(req.seed).rng };
      }
      if (req.prompt.length === 0 && session.logits === undefined) {
        throw new RangeError(
          "The session is empty and the request has no prompt: send some text to start from",
        );
      }
      appendTokens(loaded, session, req.prompt);
      const stored: StoredRequest = {
        promptTokens: req.prompt.length,
        maxTokens: req.maxTokens,
        sampling: req.sampling,
        stop: [...req.stop ?? []],
        stopTokenIds: [...req.stopTokenIds ?? []],
        ignoreEos: req.ignoreEos ?? false,
        logprobs: req.logprobs,
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
      await this.#store.releaseLease(id, owner);
      throw err;
    }
  }

  /**
   * The events of the session's current or last generation after position `after` (all of them
   * when undefined), then the live ones until it ends, on whichever instance runs it. If that
   * generation was cut by a crash (running, lease expired), this instance resumes it.
   */
  async *follow(id: string, after?: number, generationId?: string): AsyncGenerator<StoredEvent> {
    let last = after ?? -1;
    while (true) {
      const found = await this.#store.get(id);
      if (!found) throw new SessionNotFoundError(id);
      const gen = found.meta.generation;
      if (!gen || (generationId && gen.id !== generationId)) return;
      const live = this.#runner.live.get(id);
      if (live?.generationId === gen.id) {
        if (last < live.from - 1) {
          for (const e of await this.#store.readEvents(id, gen.id, last)) {
            if (e.position >= live.from) break;
            yield e;
            last = e.position;
          }
        }
        for await (const e of live.follow(last)) {
          yield e;
          last = e.position;
        }
        return;
      }
      for (const e of await this.#store.readEvents(id, gen.id, last)) {
        yield e;
        last = e.position;
        if (e.event !== "token") return;
      }
      if (gen.status === "done") return;
      if (!await this.#store.lease(id)) {
        await this.#runner.resume(id);
        continue;
      }
      await new Promise((r) => setTimeout(r, this.#pollMs));
    }
  }

  /** Deletes stored state that no session uses any more (expired sessions, crashed writes). */
  sweep(): Promise<number> {
    return this.#store.sweep(10 * 60 * 1000);
  }

  /** Waits for the generations this instance runs to finish (tests and graceful shutdown). */
  drain(): Promise<void> {
    return this.#runner.drain();
  }
}
