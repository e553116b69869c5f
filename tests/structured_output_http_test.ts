// response_format through the HTTP API (app.request(), a real Deno KV file, the default model):
// completions, chat and session generate give JSON that validates, streamed or not; logprobs stay
// those of the unmodified distribution; an unsupported schema keyword is a 400 that names it.
import assert from "node:assert/strict";
import { Ajv } from "./helpers/dev_deps.ts";
import { decodeStateBlob, SessionService } from "../engine/mod.ts";
import { loadModel } from "../models/mod.ts";
import { createApp, DEFAULT_LIMITS } from "../routes/mod.ts";
import { openDenoKvStore } from "../store/mod.ts";

const loaded = await loadModel(new URL("../assets/rwkv7-kjv-4m", import.meta.url).pathname);
const models = new Map([[loaded.id, loaded]]);
const ajv = new Ajv();

const VERSE = {
  type: "object",
  properties: {
    book: { enum: ["Genesis", "Exodus", "Psalms", "John"] },
    chapter: { type: "integer", minimum: 1, maximum: 150 },
    verses: { type: "array", items: { type: "integer", minimum: 1, maximum: 176 }, minItems: 1, maxItems: 4 },
    blessed: { type: "boolean" },
  },
  required: ["book", "chapter", "verses", "blessed"],
  additionalProperties: false,
};
const schemaFormat = { type: "json_schema", json_schema: { name: "verse", schema: VERSE, strict: true } };

async function makeApp() {
  const store = await openDenoKvStore(`${await Deno.makeTempDir()}/s.kv`);
  const sessions = new SessionService({ store, models, defaultModel: loaded.id, checkpointEvery: 4 });
  const app = createApp({
    models,
    defaultModel: loaded.id,
    createdAt: 0,
    limits: DEFAULT_LIMITS,
    sessions,
    apiKeys: new Set(),
  });
  const post = (path: string, body: unknown) =>
    app.request(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const close = async () => {
    await sessions.drain();
    store.close();
  };
  return { app, post, store, close };
}

function sseData(text: string): unknown[] {
  return text.split("\n").filter((l) => l.startsWith("data: ") && l !== "data: [DONE]").map((l) =>
    JSON.parse(l.slice(6))
  );
}

function assertVerse(text: string) {
  const value = JSON.parse(text);
  assert.ok(ajv.validate(VERSE, value), `${text}: ${JSON.stringify(ajv.errors)}`);
}

Deno.test("completions: json_schema output validates, streamed or not, with the same text", async () => {
  const { post, close } = await makeApp();
  try {
    for (const temperature of [0, 0.9]) {
      const body = {
        prompt: "In the beginning",
        max_tokens: 300,
        seed: 3,
        temperature,
        response_format: schemaFormat,
      };
      const res = await post("/v1/completions", body);
      assert.equal(res.status, 200);
      const json = await res.json();
      assert.equal(json.choices[0].finish_reason, "stop");
      assertVerse(json.choices[0].text);
      const streamed = sseData(await (await post("/v1/completions", { ...body, stream: true })).text()) as {
        choices: { text: string; finish_reason: string | null }[];
      }[];
      assert.equal(streamed.map((c) => c.choices[0].text).join(""), json.choices[0].text);
      assert.equal(streamed.at(-1)!.choices[0].finish_reason, "stop");
    }
  } finally {
    await close();
  }
});

Deno.test("completions: logprobs come from the unmodified distribution", async () => {
  const { post, close } = await makeApp();
  try {
    const body = { prompt: "And God said", max_tokens: 1, temperature: 0, logprobs: 5 };
    const plain = await (await post("/v1/completions", body)).json();
    const shaped =
      await (await post("/v1/completions", { ...body, response_format: { type: "json_object" } }))
        .json();
    assert.deepEqual(shaped.choices[0].logprobs.top_logprobs, plain.choices[0].logprobs.top_logprobs);
    assert.match(shaped.choices[0].text, /^[\s{]$/);
    assert.ok(shaped.choices[0].logprobs.token_logprobs[0] < 0, "not renormalized over the allowed tokens");
  } finally {
    await close();
  }
});

Deno.test("chat: json_object gives an object; json_schema validates; text leaves the output free", async () => {
  const { post, close } = await makeApp();
  try {
    const messages = [{ role: "user", content: "Name a verse as JSON." }];
    const object = await (await post("/v1/chat/completions", {
      messages,
      max_tokens: 200,
      seed: 1,
      response_format: { type: "json_object" },
    })).json();
    if (object.choices[0].finish_reason === "stop") {
      const value = JSON.parse(object.choices[0].message.content);
      assert.equal(typeof value, "object");
      assert.ok(value !== null && !Array.isArray(value));
    } else {
      assert.match(object.choices[0].message.content, /^\s*\{/);
    }
    const verse = await (await post("/v1/chat/completions", {
      messages,
      max_tokens: 300,
      seed: 2,
      temperature: 0.7,
      response_format: schemaFormat,
    })).json();
    assert.equal(verse.choices[0].finish_reason, "stop");
    assertVerse(verse.choices[0].message.content);
    const text = await post("/v1/chat/completions", {
      messages,
      max_tokens: 5,
      response_format: { type: "text" },
    });
    assert.equal(text.status, 200);
  } finally {
    await close();
  }
});

Deno.test("sessions: a json_schema generation validates; its final state holds no constraint", async () => {
  const { app, post, close } = await makeApp();
  try {
    const id = (await (await post("/v1/sessions", { prompt: "The word of the LORD" })).json()).id;
    const gen = await (await post(`/v1/sessions/${id}/generate`, {
      max_tokens: 300,
      seed: 9,
      stream: false,
      response_format: schemaFormat,
    })).json();
    assert.equal(gen.finish_reason, "stop");
    assertVerse(gen.text);
    const blob = new Uint8Array(await (await app.request(`/v1/sessions/${id}/state`)).arrayBuffer());
    assert.equal(decodeStateBlob(loaded, blob).constraint, undefined);
    const next = await (await post(`/v1/sessions/${id}/generate`, { max_tokens: 4, stream: false })).json();
    assert.equal(next.usage.completion_tokens, 4, "a plain generation follows");
  } finally {
    await close();
  }
});

Deno.test("an unsupported schema keyword is a 400 naming it, on every endpoint", async () => {
  const { post, close } = await makeApp();
  try {
    const bad = {
      type: "json_schema",
      json_schema: {
        name: "x",
        schema: { type: "object", properties: { a: { type: "string", pattern: "^x" } } },
      },
    };
    const id = (await (await post("/v1/sessions", { prompt: "Amen" })).json()).id;
    for (
      const [path, body] of [
        ["/v1/completions", { prompt: "x", response_format: bad }],
        ["/v1/chat/completions", { messages: [{ role: "user", content: "x" }], response_format: bad }],
        ["/v1/chat/completions", {
          messages: [{ role: "user", content: "x" }],
          response_format: bad,
          stream: true,
        }],
        [`/v1/sessions/${id}/generate`, { prompt: "x", response_format: bad }],
      ] as const
    ) {
      const res = await post(path, body);
      assert.equal(res.status, 400, path);
      const err = (await res.json()).error;
      assert.match(err.message, /keyword "pattern" \(at #\/properties\/a\) is not supported/, path);
      assert.equal(err.param, "response_format");
    }
    const unknownType = await post("/v1/completions", { prompt: "x", response_format: { type: "yaml" } });
    assert.equal(unknownType.status, 400);
    const info = await (await post(`/v1/sessions/${id}/generate`, { max_tokens: 1, stream: false })).json();
    assert.equal(info.usage.completion_tokens, 1, "the refused request left the session free");
  } finally {
    await close();
  }
});
