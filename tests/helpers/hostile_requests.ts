// Hostile requests for every route of the HTTP API (see tests/http_fuzz_test.ts), built from the
// values of hostile_values.ts around valid bodies.
import { corruptBlob, hostileFormat, junk, malformedJson, Raw, type Rng, toJson } from "./hostile_values.ts";

/** A request to send: what `send` does and what a failure prints. */
export interface Attempt {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
  /** Hang up once the answer's first bytes arrive (its status is still checked). */
  hangUp?: boolean;
}

const LOGIT_BIAS_KEYS = [
  "-1",
  "1e3",
  "0x10",
  "abc",
  "__proto__",
  "constructor",
  "99999999999",
  "65536",
  "00",
];
const LOGIT_BIAS_VALUES: unknown[] = [-100, 100, 101, -1e308, "5", null, [], new Raw("1e999"), 0.5];

const SAMPLING = {
  max_tokens: 4,
  temperature: 0.7,
  top_p: 0.9,
  top_k: 5,
  min_p: 0,
  presence_penalty: 0.1,
  frequency_penalty: 0.1,
  repetition_penalty: 1.1,
  stop: ["\n\n"],
  stop_token_ids: [0],
  seed: 1,
  ignore_eos: false,
  logit_bias: { "5": 1 },
};
const MESSAGES = [{ role: "system", content: "Be brief." }, { role: "user", content: "Who begat Enos?" }];

/** A valid body for each JSON route (before mutation). */
function validBodies(session: string): Record<string, Record<string, unknown>> {
  return {
    "/v1/completions": {
      model: "rwkv7-kjv-4m",
      prompt: "In the beginning",
      ...SAMPLING,
      logprobs: 2,
      n: 2,
      stream: false,
      echo: true,
      stream_options: { include_usage: true },
      user: "u",
      best_of: 2,
      response_format: { type: "text" },
    },
    "/v1/chat/completions": {
      messages: MESSAGES,
      ...SAMPLING,
      max_completion_tokens: 4,
      logprobs: true,
      top_logprobs: 2,
      n: 2,
      stream: false,
      response_format: { type: "json_object" },
      parallel_tool_calls: false,
    },
    "/v1/sessions": { prompt: "And God said" },
    [`/v1/sessions/${session}/generate`]: {
      prompt: " Let there be",
      ...SAMPLING,
      logprobs: 1,
      stream: true,
    },
    "/tokenize": { content: "In the beginning", with_pieces: true, return_token_strs: true },
    "/detokenize": { tokens: [5, 6, 7] },
  };
}

/** One valid body with one to three of its fields (or the fields inside logit_bias, messages…) made hostile. */
function mutateBody(rng: Rng, body: Record<string, unknown>): unknown {
  const out: Record<string, unknown> = structuredClone(body);
  const extraFields = [
    "prompt",
    "messages",
    "session_id",
    "model",
    "response_format",
    "logit_bias",
    "tools",
    "n",
  ];
  for (let k = 1 + rng.int(3); k > 0; k--) {
    const field = rng.pick([...Object.keys(out), ...extraFields, "unknown_field"]);
    const like = out[field];
    if (field === "response_format") out[field] = hostileFormat(rng);
    else if (field === "logit_bias") {
      out[field] = rng.next() < 0.3
        ? Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [String(i), 1]))
        : { [rng.pick(LOGIT_BIAS_KEYS)]: rng.pick(LOGIT_BIAS_VALUES) };
    } else if (field === "messages" && rng.next() < 0.6) {
      out[field] = [rng.pick<unknown>([
        { role: junk(rng, ""), content: "hi" },
        { role: "user", content: junk(rng, "") },
        { role: "user", content: [{ type: "text", text: junk(rng, "") }] },
        { role: "user", content: [{ type: "image_url", image_url: { url: "data:," } }] },
        { role: "tool", content: "x" },
        { role: "user" },
        junk(rng),
      ])];
    } else if (field === "prompt" && rng.next() < 0.5) {
      out[field] = rng.pick<unknown>([[0], [65535], [65536], [-1], [1e308], Array(20_000).fill(5), "\u0000"]);
    } else out[field] = junk(rng, like);
  }
  return out;
}

const BAD_IDS = [
  "0123456789abcdef0123456789abcdef",
  "..",
  "..%2F..%2Fetc%2Fpasswd",
  "%00",
  "%F0%9F%92%A9",
  "%ED%A0%80",
  "%C0%AF",
  "%E0%A4%A",
  "%",
  "x".repeat(5000),
  "' OR 1=1 --",
  "%25",
];

/** One generated hostile request. */
export function hostileRequest(rng: Rng, ctx: { session: string; idle: string; blob: Uint8Array }): Attempt {
  const bodies = validBodies(ctx.session);
  const json = { "content-type": "application/json" };
  const id = rng.next() < 0.5 ? rng.pick(BAD_IDS) : ctx.idle;
  return rng.pick<() => Attempt>([
    // Wrong fields in every JSON route (weighted: most of the surface is here).
    ...Array(8).fill(() => {
      const path = rng.pick(Object.keys(bodies));
      return { method: "POST", path, headers: json, body: toJson(mutateBody(rng, bodies[path])) };
    }),
    () => {
      const path = rng.pick(Object.keys(bodies));
      return { method: "POST", path, headers: json, body: malformedJson(rng, toJson(bodies[path])) };
    },
    () => {
      const path = rng.pick(Object.keys(bodies));
      const type = rng.pick([
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "",
        "json",
      ]);
      return { method: "POST", path, headers: { "content-type": type }, body: toJson(bodies[path]) };
    },
    // Structured output with hostile schemas, streamed or not, on every generating route.
    ...Array(2).fill(() => {
      const path = rng.pick(Object.keys(bodies).slice(0, 4).filter((p) => p !== "/v1/sessions"));
      const body = { ...bodies[path], response_format: hostileFormat(rng), stream: rng.next() < 0.5 };
      return { method: "POST", path, headers: json, body: toJson(body) };
    }),
    // Sessions by junk ids, every method.
    () => {
      const [method, tail] = rng.pick([
        ["GET", ""],
        ["DELETE", ""],
        ["GET", "/state"],
        ["PUT", "/state"],
        ["GET", "/stream"],
        ["POST", "/fork"],
        ["POST", "/cancel"],
        ["POST", "/stream_token"],
        ["POST", "/generate"],
        ["PATCH", ""],
        ["POST", ""],
      ]);
      const blob = method === "PUT";
      return {
        method,
        path: `/v1/sessions/${rng.pick(BAD_IDS)}${tail}`,
        headers: { "content-type": blob ? "application/octet-stream" : "application/json" },
        body: method === "GET" || method === "DELETE" ? undefined : blob ? new Uint8Array(ctx.blob) : "{}",
      };
    },
    // Last-Event-ID junk, in the header and in the query.
    () => {
      const value = rng.pick(["-2", "1e308", "x".repeat(6000), "\u00e9", "0,1", " 3", "3 ", "-0", "٣"]);
      return rng.next() < 0.5
        ? {
          method: "GET",
          path: `/v1/sessions/${ctx.idle}/stream`,
          headers: { "last-event-id": encodeLatin1(value) },
        }
        : {
          method: "GET",
          path: `/v1/sessions/${ctx.idle}/stream?last_event_id=${encodeURIComponent(value)}`,
        };
    },
    // Corrupt state blobs, into an existing session and as a new one.
    ...Array(2).fill(() => {
      const body = corruptBlob(rng, ctx.blob);
      const path = rng.next() < 0.5 ? `/v1/sessions/${ctx.idle}/state` : "/v1/sessions";
      return {
        method: path === "/v1/sessions" ? "POST" : "PUT",
        path: path + (rng.next() < 0.2 ? `?model=${rng.pick(["", "nope", "..%2F"])}` : ""),
        headers: { "content-type": "application/octet-stream" },
        body,
      };
    }),
    // No API key, a wrong one, or a junk stream token (the one way in without the header).
    () => {
      const token = rng.pick([
        "",
        "%ZZ",
        "x".repeat(5000),
        `${"0".repeat(32)}.9999999999.${"A".repeat(43)}`,
        `${"f".repeat(32)}.1.${"_".repeat(43)}`,
      ]);
      const authorization = rng.pick(["", "Bearer", "Bearer wrong-key", "bearer  fuzz-key x", "Basic ???"]);
      const where = rng.pick([rng.pick(BAD_IDS), ctx.idle]);
      return rng.pick<Attempt>([
        {
          method: "GET",
          path: `/v1/sessions/${where}/stream?token=${token}`,
          headers: { authorization: "" },
        },
        { method: "GET", path: `/v1/sessions/${where}/stream?token=${token}`, headers: { authorization } },
        { method: "POST", path: `/v1/sessions/${where}/stream_token`, headers: { authorization } },
        { method: "GET", path: rng.pick(["/v1/models", "/metrics", "/"]), headers: { authorization } },
      ]);
    },
    // Other routes and methods, with junk in the path, query and headers.
    () => {
      const paths = [
        "/",
        "/health",
        "/ready",
        "/metrics",
        "/v1/models",
        `/v1/models/${rng.pick(["rwkv7-kjv-4m", "nope", "..%2F..", "x".repeat(3000), "%00"])}`,
        `/v1/models/rwkv7-kjv-4m/files/${rng.pick(["..%2Fmain.ts", "nope", "config.json", "%00"])}`,
        "/v1/models/rwkv7-kjv-4m/files?v=" + "x".repeat(1000),
        `/playground/${rng.pick(["..%2F..%2Fmain.ts", "nope", "%00", "x".repeat(3000)])}`,
        `/v1/sessions/${id}`,
        "/v1/nothing",
        "/tokenize",
      ];
      const method = rng.pick(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]);
      const headers = rng.pick<Record<string, string>>([
        {},
        { accept: "text/html" },
        { "if-none-match": '"' + "x".repeat(4000) + '"' },
        { authorization: "Bearer " + "x".repeat(4000) },
        { authorization: "Basic ???" },
        { origin: "https://evil.example" },
      ]);
      return { method, path: rng.pick(paths), headers };
    },
  ])();
}

/** A header value the Fetch API accepts (ByteString): characters past U+00FF become "?". */
function encodeLatin1(value: string): string {
  return value.replace(/[^ -\u00ff]/g, "?");
}

/** A request as a failure prints it: method, path and headers, and the body cut short. */
export function describeAttempt(a: Attempt): string {
  const body = a.body === undefined
    ? ""
    : typeof a.body === "string"
    ? a.body.slice(0, 400) + (a.body.length > 400 ? `… (${a.body.length} chars)` : "")
    : `<${a.body.length} bytes: ${[...a.body.slice(0, 24)].join(",")}…>`;
  return `${a.method} ${a.path.slice(0, 200)} ${JSON.stringify(a.headers ?? {}).slice(0, 200)} ${body}`;
}
