import type { Hono } from "hono";
import { chatTemplate, type SessionMeta, type StoredEvent } from "../engine/mod.ts";
import type { LoadedModel } from "../models/mod.ts";
import { readBounded, readJsonBody } from "./body.ts";
import { promptTokens } from "./completions.ts";
import { ApiError } from "./errors.ts";
import {
  createSessionSchema,
  samplingOf,
  type SessionGenerateBody,
  sessionGenerateSchema,
  stopsOf,
} from "./schemas.ts";
import type { ServedModels } from "./served.ts";
import { sessionEventStream } from "./sse.ts";

/** Most bytes a PUT .../state body may have. */
const MAX_STATE_BYTES = 512 * 1024 * 1024;

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

/** Last-Event-ID as a position; 400 if it is not one. */
function lastEventId(header: string | undefined): number | undefined {
  if (header === undefined || header === "") return undefined;
  const n = Number(header);
  if (!Number.isInteger(n) || n < -1) {
    throw new ApiError(400, `Last-Event-ID must be a token position, got "${header}"`);
  }
  return n;
}

/** The session routes (see the README): create, generate, stream, info, delete, fork, state. */
export function sessionRoutes(app: Hono, served: ServedModels): void {
  const generateSchema = sessionGenerateSchema(served.limits);
  const sessions = served.sessions;

  app.post("/v1/sessions", async (c) => {
    const body = createSessionSchema.parse(await readJsonBody(c));
    const loaded = sessions.model(body.model);
    const meta = await sessions.create(loaded.id, inputTokens(served, loaded, body, false));
    return c.json(describe(meta), 201);
  });

  app.get("/v1/sessions/:id", async (c) => {
    const { meta, generating } = await sessions.info(c.req.param("id"));
    return c.json(describe(meta, generating));
  });

  app.delete("/v1/sessions/:id", async (c) => {
    const id = c.req.param("id");
    if (!await sessions.delete(id)) throw new ApiError(404, `Session ${id} does not exist`);
    return c.json({ id, object: "session", deleted: true });
  });

  app.post("/v1/sessions/:id/fork", async (c) => {
    const meta = await sessions.fork(c.req.param("id"));
    return c.json(describe(meta), 201);
  });

  app.get("/v1/sessions/:id/state", async (c) => {
    const blob = await sessions.exportState(c.req.param("id"));
    return c.body(blob as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/octet-stream" });
  });

  app.put("/v1/sessions/:id/state", async (c) => {
    const type = c.req.header("content-type") ?? "";
    if (!type.startsWith("application/octet-stream")) {
      throw new ApiError(415, "Send the state blob as application/octet-stream");
    }
    const blob = await readBounded(c, MAX_STATE_BYTES);
    const id = c.req.param("id");
    if (!/^[0-9a-f]{32}$/.test(id)) throw new ApiError(400, "Session ids are 32 hex characters", "id");
    const meta = await sessions.importState(id, blob, c.req.query("model"));
    return c.json(describe(meta));
  });

  app.post("/v1/sessions/:id/generate", async (c) => {
    const id = c.req.param("id");
    const body: SessionGenerateBody = generateSchema.parse(await readJsonBody(c));
    const { meta } = await sessions.info(id);
    const loaded = sessions.model(meta.model);
    const separate = meta.tokens > 0 && meta.generation?.finishReason !== "stop";
    const prompt = inputTokens(served, loaded, body, separate);
    const stop = body.messages ? [...stopsOf(body.stop), ...chatTemplate(loaded).stop] : stopsOf(body.stop);
    const { generationId, start } = await sessions.startGeneration(id, {
      prompt,
      maxTokens: body.max_tokens,
      sampling: samplingOf(body),
      seed: body.seed,
      stop,
      stopTokenIds: body.stop_token_ids,
      ignoreEos: body.ignore_eos,
      logprobs: body.logprobs ?? undefined,
    });
    const events = sessions.follow(id, start - 1, generationId);
    if (body.stream) return sessionEventStream(c, events);
    return c.json(await collect(id, events));
  });

  app.get("/v1/sessions/:id/stream", async (c) => {
    const id = c.req.param("id");
    await sessions.info(id); // 404 before the stream starts
    const after = lastEventId(c.req.header("last-event-id") ?? c.req.query("last_event_id"));
    return sessionEventStream(c, sessions.follow(id, after));
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
