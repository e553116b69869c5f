// Readiness against a real Deno KV file that stops answering, and the metrics exposition's
// escaping read back by a real Prometheus text parser.
import assert from "node:assert/strict";
import { parsePrometheus } from "./helpers/dev_deps.ts";
import { SessionService } from "../engine/mod.ts";
import { Counter, Histogram, Registry } from "../engine/prometheus.ts";
import { loadModel } from "../models/mod.ts";
import { createApp, DEFAULT_LIMITS } from "../routes/mod.ts";
import { openDenoKvStore } from "../store/mod.ts";

Deno.test("/ready is 503 naming the store once the Deno KV store stops answering; /health stays 200", async () => {
  const dir = await Deno.makeTempDir();
  const store = await openDenoKvStore(`${dir}/sessions.kv`);
  const loaded = await loadModel(new URL("./fixtures/rwkv7/tiny", import.meta.url).pathname);
  const models = new Map([[loaded.id, loaded]]);
  const app = createApp({
    models,
    defaultModel: loaded.id,
    createdAt: 0,
    limits: DEFAULT_LIMITS,
    sessions: new SessionService({ store, models, defaultModel: loaded.id }),
    apiKeys: new Set(),
  });
  try {
    assert.equal((await app.request("/ready")).status, 200);
    store.close();
    const res = await app.request("/ready");
    assert.equal(res.status, 503);
    const body = await res.json();
    assert.equal(body.status, "not ready");
    assert.equal(body.checks.models, "ok");
    assert.match(body.checks.store, /^unreachable: /);
    assert.equal((await app.request("/health")).status, 200);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("label values and help text are escaped so a real parser reads them back", () => {
  const registry = new Registry();
  const c = registry.register(new Counter("odd_total", "Help with a \\ backslash\nand a newline"));
  c.inc({ route: 'a "quoted" \\ path\nwith newline' }, 2);
  c.inc({ route: "plain" });
  const h = registry.register(new Histogram("lat_seconds", "Latency", [0.1, 1]));
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  const parsed = parsePrometheus(registry.render());
  assert.equal(parsed[0].help, "Help with a \\ backslash\nand a newline");
  assert.deepEqual(parsed[0].metrics, [
    { value: "2", labels: { route: 'a "quoted" \\ path\nwith newline' } },
    { value: "1", labels: { route: "plain" } },
  ]);
  assert.deepEqual(parsed[1].metrics, [{
    buckets: { "0.1": "1", "1": "2", "+Inf": "3" },
    count: "3",
    sum: "5.55",
  }]);
});
