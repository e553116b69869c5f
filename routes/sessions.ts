import type { Context, Hono } from "hono";
import {
  chatTemplate,
  checkStateBlobPrefix,
  MAX_SESSION_TOKENS,
  maxStateBlobBytes,
  metrics,
  type SessionMeta,
  STATE_BLOB_PREFIX_BYTES,
  type StoredEvent,
} from "../engine/mod.ts";
import type { LoadedModel } from "../models/mod.ts";
import { hasMediaType, readBounded, readJsonBody } from "./body.ts";
import { promptTokens } from "./completions.ts";
import { ApiError } from "./errors.ts";
import {
  createSessionSchema,
  samplingOf,
  type SessionGenerateBody,
  sessionGenerateSchema,
  stopsOf,
} from "./schemas.ts";
import type { AppEnv, ServedModels } from "./served.ts";
import { sessionEventStream } from "./sse.ts";
import { templateStops } from "./response_format.ts";

/** Largest Last-Event-ID taken: the most tokens a session may hold. */
const MAX_EVENT_ID = MAX_SESSION_TOKENS;

function describe(meta: SessionMeta, generating = false) {
  return {
    id: meta.id,
    object: "session",
    model: meta.model,
    tokens: meta.tokens,
    state_bytes: meta.stateBytes,
    created: Math.floor(meta.createdAt / 1000),
    updated: Math.floor(meta.updatedAt / 1000),
    generating,
  };
}

/** Prompt tokens of a session request: raw text/ids, or messages through the family's chat template. */
function inputTokens(
  served: ServedModels,
  loaded: LoadedModel,
  body: {
    prompt?: string | number[];
    messages?: { role: "system" | "user" | "assistant"; content: string }[];
  },
  separate: boolean,
): number[] {
  if (body.messages) {
    const text = chatTemplate(loaded).render(body.messages, { separate });
    return promptTokens(loaded, text, served.limits.maxPromptTokens);
  }
  if (body.prompt === undefined || (typeof body.prompt === "string" && body.prompt === "")) return [];
  return promptTokens(loaded, body.prompt, served.limits.maxPromptTokens);
}

/** Last-Event-ID as a position (-1 replays everything); 400 unless it is a decimal integer in range. */
function lastEventId(header: string | undefined): number | undefined {
  if (header === undefined || header === "") return undefined;
  const n = /^(-1|0|[1-9][0-9]{0,14})$/.test(header) ? Number(header) : NaN;
  if (!(n <= MAX_EVENT_ID)) {
    throw new ApiError(
      400,
      `Last-Event-ID must be a token position (a decimal integer from -1 to ${MAX_EVENT_ID}), got "${
        header.slice(0, 40)
      }"`,
    );
  }
  return n;
}

/** A state blob upload for `loaded`: octet-stream, at most the largest blob it can have, header checked first. */
async function readStateBlob(c: Context, loaded: LoadedModel): Promise<Uint8Array> {
  if (!hasMediaType(c, "application/octet-stream")) {
    throw new ApiError(415, "Send the state blob as application/octet-stream");
  }
  return await readBounded(c, maxStateBlobBytes(loaded), {
    prefixBytes: STATE_BLOB_PREFIX_BYTES,
    checkPrefix: (prefix) => checkStateBlobPrefix(loaded, prefix),
  });
}

/** Counts a new session and names it in the request log. */
function created(c: Context<AppEnv>, meta: SessionMeta, operation: string): void {
  metrics.sessions.inc({ operation });
  c.set("sessionId", meta.id);
}

/** The session routes (see the README): create, generate, stream, info, delete, fork, state. */
export function sessionRoutes(app: Hono<AppEnv>, served: ServedModels): void {
  const generateSchema = sessionGenerateSchema(served.limits);
  const sessions = served.sessions;

  // JSON: a new session (with an optional prompt). A state blob (application/octet-stream): a
  // session imported from another deployment, for `?model=` or the default model.
  app.post("/v1/sessions", async (c) => {
    const who = c.get("principal");
    if (hasMediaType(c, "application/octet-stream")) {
      const loaded = sessions.model(c.req.query("model"));
      const meta = await sessions.importSession(await readStateBlob(c, loaded), who, loaded.id);
      created(c, meta, "import");
      return c.json(describe(meta), 201);
    }
    const body = createSessionSchema.parse(await readJsonBody(c));
    const loaded = sessions.model(body.model);
    const meta = await sessions.create(loaded.id, inputTokens(served, loaded, body, false), who);
    created(c, meta, "create");
    return c.json(describe(meta), 201);
  });

  app.get("/v1/sessions/:id", async (c) => {
    const { meta, generating } = await sessions.info(c.req.param("id"), c.get("principal"));
    return c.json(describe(meta, generating));
  });

  app.delete("/v1/sessions/:id", async (c) => {
    const id = c.req.param("id");
    await sessions.delete(id, c.get("principal"));
    metrics.sessions.inc({ operation: "delete" });
    return c.json({ id, object: "session", deleted: true });
  });

  app.post("/v1/sessions/:id/fork", async (c) => {
    const meta = await sessions.fork(c.req.param("id"), c.get("principal"));
    created(c, meta, "fork");
    return c.json(describe(meta), 201);
  });

  app.get("/v1/sessions/:id/state", async (c) => {
    const blob = await sessions.exportState(c.req.param("id"), c.get("principal"));
    return c.body(blob as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/octet-stream" });
  });

  // Replaces an existing session's state; a new session from a blob is POST /v1/sessions.
  app.put("/v1/sessions/:id/state", async (c) => {
    const id = c.req.param("id");
    const who = c.get("principal");
    const loaded = await sessions.modelOf(id, who);
    const meta = await sessions.importState(id, await readStateBlob(c, loaded), who);
    return c.json(describe(meta));
  });

  app.post("/v1/sessions/:id/generate", async (c) => {
    const id = c.req.param("id");
    const who = c.get("principal");
    const body: SessionGenerateBody = generateSchema.parse(await readJsonBody(c));
    const { meta } = await sessions.info(id, who);
    const loaded = sessions.model(meta.model);
    const separate = meta.tokens > 0 && meta.generation?.finishReason !== "stop";
    const prompt = inputTokens(served, loaded, body, separate);
    const stop = body.messages
      ? [...stopsOf(body.stop), ...templateStops(chatTemplate(loaded), body.response_format)]
      : stopsOf(body.stop);
    const { generationId, start } = await sessions.startGeneration(id, {
      prompt,
      maxTokens: body.max_tokens,
      sampling: samplingOf(body),
      seed: body.seed,
      stop,
      stopTokenIds: body.stop_token_ids,
      ignoreEos: body.ignore_eos,
      logprobs: body.logprobs ?? undefined,
      responseFormat: body.response_format,
    }, who);
    // A stream shows a pause (its client continues with GET .../stream); a JSON answer waits it out.
    const events = sessions.follow(id, who, { after: start - 1, generationId, throughPauses: !body.stream });
    if (body.stream) return sessionEventStream(c, events);
    return c.json(await collect(id, events));
  });

  // Stops the running generation; its stream ends with a `done` event (finish_reason "cancelled").
  app.post("/v1/sessions/:id/cancel", async (c) => {
    const id = c.req.param("id");
    const outcome = await sessions.cancel(id, c.get("principal"));
    if (outcome === "elsewhere") {
      throw new ApiError(
        409,
        `Session ${id}'s generation runs on another instance, which alone can stop it: retry, or let it finish`,
      );
    }
    return c.json({ id, object: "session.cancel", cancelled: outcome === "cancelled" });
  });

  app.get("/v1/sessions/:id/stream", async (c) => {
    const id = c.req.param("id");
    const who = c.get("principal");
    await sessions.info(id, who); // 404 before the stream starts
    const after = lastEventId(c.req.header("last-event-id") ?? c.req.query("last_event_id"));
    return sessionEventStream(c, sessions.follow(id, who, { after }));
  });
}

/** A whole generation as one JSON answer. */
export async function collect(id: string, events: AsyncGenerator<StoredEvent>) {
  let text = "";
  const tokens: number[] = [];
  for await (const e of events) {
    const data = JSON.parse(e.data);
    if (e.event === "token") {
      text += data.text;
      tokens.push(data.token_id);
    } else if (e.event === "done") {
      text += data.text ?? "";
      return {
        id,
        object: "session.generation",
        text,
        token_ids: tokens,
        finish_reason: data.finish_reason,
        usage: data.usage,
      };
    } else {
      throw new Error(data.message);
    }
  }
  throw new Error("The generation ended without a final event");
}
