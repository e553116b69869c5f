// Valid requests at the edges of what every field takes (see tests/http_fuzz_test.ts): these get
// past validation into the tokenizer, the sampler, the constraint compiler and the session store,
// alone or several at once on one session.
import type { Attempt } from "./hostile_requests.ts";
import type { Rng } from "./hostile_values.ts";

/** The embedded default model's vocabulary size. */
const VOCAB = 1024;
/** The fuzzed server's MAX_PROMPT_TOKENS. */
const MAX_PROMPT = 512;

/** Values in range but at its ends (or odd inside it), by field. */
const EDGES: Record<string, unknown[]> = {
  max_tokens: [0, 1, 16],
  temperature: [0, 5e-324, 1e-5, 1e-4, 2],
  top_p: [5e-324, 1e-9, 0.5, 1],
  top_k: [0, 1, VOCAB, 2 ** 31, Number.MAX_SAFE_INTEGER],
  min_p: [0, 5e-324, 0.999, 1],
  presence_penalty: [-2, 2],
  frequency_penalty: [-2, 2],
  repetition_penalty: [0.01, 10],
  stop: ["", [""], ["\u0000"], ["\ud800"], "e", ["💩", "\n"], Array(16).fill("x".repeat(256)), [" ", "a"]],
  stop_token_ids: [[], [0], [VOCAB - 1], [VOCAB, 2 ** 31], Array(64).fill(Number.MAX_SAFE_INTEGER)],
  seed: [-1, 0, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 2 ** 32],
  ignore_eos: [true, false],
  logit_bias: [
    { "0": 100 },
    { [String(VOCAB - 1)]: -100 },
    Object.fromEntries(Array.from({ length: VOCAB }, (_, i) => [String(i), -100])),
    Object.fromEntries(Array.from({ length: VOCAB }, (_, i) => [String(i), i === 7 ? 100 : -100])),
  ],
  n: [1, 16],
  stream: [true, false],
  prompt: ["\ud800", "\u0000", "x", "\udfff\ud800", "💩", " ", [0], [VOCAB - 1], Array(MAX_PROMPT).fill(1)],
  messages: [
    [{ role: "assistant", content: "" }],
    [{ role: "user", content: "\u0000\ud800" }],
    [{ role: "developer", content: [{ type: "text", text: "a" }, { type: "text", text: "\udc00" }] }],
    [{ role: "user", content: "<|endoftext|>\n\nUser: hi\n\nAssistant:" }],
    Array(20).fill({ role: "user", content: "Amen." }),
  ],
  response_format: [
    { type: "json_object" },
    {
      type: "json_schema",
      json_schema: {
        name: "tree",
        schema: {
          $defs: {
            n: { anyOf: [{ type: "null" }, { type: "array", items: { $ref: "#/$defs/n" }, maxItems: 2 }] },
          },
          $ref: "#/$defs/n",
        },
      },
    },
    {
      type: "json_schema",
      json_schema: {
        name: "odd_keys",
        schema: {
          type: "object",
          properties: { "\u0000\ud800": { type: "string" }, "": { enum: ["\ud800", "💩", ""] } },
          required: ["\u0000\ud800", ""],
          additionalProperties: false,
        },
      },
    },
    {
      type: "json_schema",
      json_schema: { name: "n", schema: { type: "integer", minimum: -1e15, maximum: 1e15 } },
    },
    {
      type: "json_schema",
      json_schema: { name: "n", schema: { type: "number", minimum: 0.1, maximum: 0.1 } },
    },
    {
      type: "json_schema",
      json_schema: { name: "n", schema: { enum: [1e308, 5e-324, -1e-7, "x", null, {}] } },
    },
    { type: "json_schema", json_schema: { name: "a", schema: { type: "array", minItems: 1_000_000 } } },
    { type: "json_schema", json_schema: { name: "c", schema: { const: "\u0000" } } },
  ],
};

/** Fields of each generating route that EDGES may set, with the route's own logprobs forms. */
const ROUTE_FIELDS: Record<string, { fields: string[]; extra: Record<string, unknown[]> }> = {
  completions: {
    fields: ["prompt", "n", "stream", "response_format"],
    extra: { logprobs: [0, 20], echo: [true], stream_options: [{ include_usage: true }] },
  },
  chat: {
    fields: ["messages", "n", "stream", "response_format"],
    extra: { logprobs: [true], top_logprobs: [0, 20], max_completion_tokens: [0, 16] },
  },
  generate: { fields: ["prompt", "messages", "stream", "response_format"], extra: { logprobs: [0, 20] } },
};
const SAMPLING_FIELDS = Object.keys(EDGES).filter((k) => !["n", "prompt", "messages", "stream"].includes(k))
  .filter((k) => k !== "response_format");

/** A body for `route` with one to five fields at their edges. */
function edgeBody(rng: Rng, route: keyof typeof ROUTE_FIELDS, start: Record<string, unknown>) {
  const { fields, extra } = ROUTE_FIELDS[route];
  const body: Record<string, unknown> = { max_tokens: 4, ...start };
  const choices = {
    ...Object.fromEntries([...SAMPLING_FIELDS, ...fields].map((f) => [f, EDGES[f]])),
    ...extra,
  };
  for (let k = 1 + rng.int(5); k > 0; k--) {
    const field = rng.pick(Object.keys(choices));
    body[field] = rng.pick(choices[field]);
  }
  if (route === "generate" && body.prompt !== undefined && body.messages !== undefined) delete body.messages;
  return body;
}

/**
 * One valid request at the edges, or a few sent at once to one session (generate, stream, fork,
 * cancel, export, replace, delete racing each other).
 */
export function edgeRequest(
  rng: Rng,
  ctx: { session: string; idle: string; blob: Uint8Array },
): Attempt | Attempt[] {
  const json = { "content-type": "application/json" };
  const post = (path: string, body: unknown): Attempt => ({
    method: "POST",
    path,
    headers: json,
    body: JSON.stringify(body),
  });
  const generate = () => post(`/v1/sessions/${ctx.session}/generate`, edgeBody(rng, "generate", {}));
  const onSession = (): Attempt =>
    rng.pick<() => Attempt>([
      generate,
      () => ({
        method: "GET",
        path: `/v1/sessions/${ctx.session}/stream`,
        headers: { "last-event-id": String(rng.int(40) - 1) },
      }),
      () => post(`/v1/sessions/${ctx.session}/fork`, {}),
      () => post(`/v1/sessions/${ctx.session}/cancel`, {}),
      () => ({ method: "GET", path: `/v1/sessions/${ctx.session}/state` }),
      () => ({ method: "GET", path: `/v1/sessions/${ctx.session}` }),
      () => ({
        method: "PUT",
        path: `/v1/sessions/${ctx.session}/state`,
        headers: { "content-type": "application/octet-stream" },
        body: new Uint8Array(ctx.blob),
      }),
      () => chat({ session_id: ctx.session }),
    ])();
  const chat = (start: Record<string, unknown>) =>
    post(
      "/v1/chat/completions",
      edgeBody(rng, "chat", { messages: [{ role: "user", content: "Hi" }], ...start }),
    );
  return rng.pick<() => Attempt | Attempt[]>([
    () => post("/v1/completions", edgeBody(rng, "completions", { prompt: "And God" })),
    () => chat({}),
    () => chat({ session_id: ctx.session }),
    generate,
    () => post("/tokenize", { content: rng.pick(EDGES.prompt.filter((p) => typeof p === "string")) }),
    () => post("/detokenize", { tokens: rng.pick([[], [0], [VOCAB - 1], Array(5000).fill(3)]) }),
    () => Array.from({ length: 2 + rng.int(3) }, onSession),
    // A client that hangs up part-way through a stream: the server must carry on for the others.
    () => ({
      ...post(`/v1/sessions/${ctx.session}/generate`, { max_tokens: 16, stream: true }),
      hangUp: true,
    }),
    () => ({
      ...post("/v1/completions", { prompt: "And God", max_tokens: 16, n: 16, stream: rng.next() < 0.7 }),
      hangUp: true,
    }),
  ])();
}
