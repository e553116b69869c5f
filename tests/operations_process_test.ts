// What an operator sees of a real server process: the startup URL answers, /health and /ready,
// /metrics in Prometheus text (read with a real parser), one JSON log line per request whose
// request id is the answer's x-request-id.
import assert from "node:assert/strict";
import { parsePrometheus } from "./helpers/dev_deps.ts";
import { startServer } from "./helpers/server.ts";
import { postJson, readEvents } from "./helpers/sse.ts";

interface Sample {
  value?: string;
  labels?: Record<string, string>;
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}
interface Family {
  name: string;
  type: string;
  metrics: Sample[];
}

/** The scrape, parsed (the parser throws on a malformed line), and its text. */
async function scrape(base: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/metrics`, { headers });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const families = parsePrometheus(text) as Family[];
  return Object.assign(new Map(families.map((f) => [f.name, f])), { text });
}

/**
 * A labelled histogram's count, read from the text: the parser merges the series of a
 * histogram that has labels besides `le` (it keeps unlabelled ones whole).
 */
const histogramCount = (text: string, name: string, labels: string) =>
  Number(text.match(new RegExp(`^${name}_count\\{${labels}\\} (\\d+)$`, "m"))?.[1] ?? 0);

const sum = (f: Family | undefined, match: Record<string, string> = {}) =>
  (f?.metrics ?? [])
    .filter((m) => Object.entries(match).every(([k, v]) => m.labels?.[k] === v))
    .reduce((s, m) => s + Number(m.value ?? m.count), 0);

Deno.test("a server process: its printed URL answers, health, readiness, metrics and request logs", async () => {
  const { child, base, printedUrl, stdout } = await startServer({ STORE: "memory", LOG_FORMAT: "json" });
  try {
    const home = await fetch(printedUrl);
    assert.equal(home.status, 200, `${printedUrl} answered ${home.status}`);
    assert.equal((await home.json()).status, "ok");

    assert.deepEqual(await (await fetch(`${base}/health`)).json(), { status: "ok" });
    const ready = await fetch(`${base}/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: "ready", checks: { models: "ok", store: "ok" } });

    // Work to measure: a streamed completion, a session generation, a bad request.
    const cmpl = await postJson(`${base}/v1/completions`, {
      prompt: "And God said",
      max_tokens: 9,
      stream: true,
    });
    assert.equal(cmpl.status, 200);
    await cmpl.text();
    const created = await (await postJson(`${base}/v1/sessions`, { prompt: "In the beginning" })).json();
    const gen = await postJson(`${base}/v1/sessions/${created.id}/generate`, {
      prompt: " God",
      max_tokens: 7,
    });
    const events = await readEvents(gen);
    assert.equal(events.at(-1)?.event, "done");
    const bad = await postJson(`${base}/v1/completions`, { prompt: "x", n: 99 }, {
      "x-request-id": "client-chosen-id-1",
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get("x-request-id"), "client-chosen-id-1");
    assert.equal((await bad.json()).error.request_id, "client-chosen-id-1");

    // Metrics parse, and say what happened.
    let m = await scrape(base);
    while (sum(m.get("active_generations")) > 0) m = await scrape(base); // the session's run ends just after its last event
    assert.equal(m.get("http_requests_total")?.type, "COUNTER");
    assert.ok(sum(m.get("http_requests_total"), { route: "/v1/completions", status: "200" }) >= 1);
    assert.ok(sum(m.get("http_requests_total"), { route: "/v1/completions", status: "400" }) >= 1);
    assert.ok(sum(m.get("http_requests_total"), { route: "/v1/sessions/:id/generate", method: "POST" }) >= 1);
    assert.ok(sum(m.get("generated_tokens_total")) >= 16);
    assert.ok(sum(m.get("sessions_total"), { operation: "create" }) >= 1);
    for (
      const name of ["time_to_first_token_seconds", "decode_tokens_per_second", "prefill_tokens_per_second"]
    ) {
      const h = m.get(name)!;
      assert.equal(h.type, "HISTOGRAM", name);
      assert.ok(sum(h) >= 1, `${name} has no observation`);
      const series = h.metrics[0];
      // (Sorted by bound: integer-like keys of a JS object come first whatever the text's order.)
      const counts = Object.entries(series.buckets!).sort(([a], [b]) => Number(a) - Number(b)).map(([, n]) =>
        Number(n)
      );
      assert.deepEqual(counts, [...counts].sort((a, b) => a - b), `${name} buckets are cumulative`);
      assert.equal(Number(series.buckets!["+Inf"]), Number(series.count));
    }
    assert.equal(sum(m.get("time_to_first_token_seconds")), 2, "one completion and one session generation");
    assert.equal(m.get("store_operation_seconds")?.type, "HISTOGRAM");
    assert.ok(histogramCount(m.text, "store_operation_seconds", 'operation="publish"') >= 1);
    assert.ok(histogramCount(m.text, "http_request_duration_seconds", 'route="/v1/completions"') >= 2);
    assert.equal(sum(m.get("store_errors_total")), 0);
    assert.equal(sum(m.get("generation_queue_depth")), 0);
    assert.equal(m.get("http_requests_in_flight")?.type, "GAUGE");

    // One JSON line per request, naming its request id and (for session routes) the session.
    const lines = stdout().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    const badLine = lines.find((l) => l.request_id === "client-chosen-id-1");
    assert.deepEqual(
      { method: badLine.method, path: badLine.path, route: badLine.route, status: badLine.status },
      { method: "POST", path: "/v1/completions", route: "/v1/completions", status: 400 },
    );
    assert.equal(typeof badLine.duration_ms, "number");
    const genLine = lines.find((l) => l.route === "/v1/sessions/:id/generate");
    assert.equal(genLine.session_id, created.id);
    assert.equal(genLine.request_id, gen.headers.get("x-request-id"));
    assert.equal(lines.find((l) => l.route === "/v1/sessions" && l.status === 201)?.session_id, created.id);
    assert.equal(lines.filter((l) => l.path === "/health").length, 1);
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
});

Deno.test("with API_KEYS, /metrics wants the key; /health and /ready do not", async () => {
  const { child, base, stdout } = await startServer({ STORE: "memory", API_KEYS: "k1" });
  try {
    assert.equal((await fetch(`${base}/health`)).status, 200);
    assert.equal((await (await fetch(`${base}/ready`)).json()).status, "ready");
    const denied = await fetch(`${base}/metrics`);
    assert.equal(denied.status, 401);
    assert.equal((await denied.json()).error.request_id, denied.headers.get("x-request-id"));
    const m = await scrape(base, { authorization: "Bearer k1" });
    assert.ok(sum(m.get("http_requests_total"), { route: "/metrics", status: "401" }) >= 1);
    // Text log lines by default: method, path, status, duration, request id.
    assert.match(stdout(), /^\S+ GET \/metrics 401 [\d.]+ ms request_id=[0-9a-f-]{36}$/m);
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
});
