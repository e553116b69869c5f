/// <reference lib="dom" />
// The playground page in real Chromium (Debian's `chromium`, driven by playwright-core) against a
// real server process: a streamed completion that is stopped; a reload mid-stream that reattaches
// and ends with the exact text of an uninterrupted seeded run; and a session handed to the browser
// (the same engine in a Web Worker), continued 30 tokens there, kept across a reload, handed back
// and continued 30 more on the server, equal to 60 tokens generated on the server alone.
//
// PLAYGROUND_SCREENSHOT=docs/playground.png deno task test tests/playground_test.ts refreshes the
// README's screenshot.
import assert from "node:assert/strict";
import { CHROMIUM, openBrowser } from "./helpers/browser.ts";
import { startServer } from "./helpers/server.ts";

const skip = CHROMIUM ? "" : " (skipped: Debian's chromium is not installed; apt-get install chromium)";
const SAMPLING = { temperature: 0.9, seed: 7 };

/** Sets the page's controls, then clicks a button (all by data-testid). */
function setAndClick(arg: { values: Record<string, string>; click?: string }) {
  const byId = (id: string) => document.querySelector(`[data-testid="${id}"]`) as HTMLInputElement;
  for (const [id, value] of Object.entries(arg.values)) {
    const el = byId(id);
    el.value = value;
    el.dispatchEvent(new Event("change"));
  }
  if (arg.click) byId(arg.click).click();
  return true;
}

/** Waits (in the page) until the page is idle, or until its output has `minChars` characters. */
async function waitFor(arg: { idle?: boolean; minChars?: number; where?: string }) {
  const deadline = Date.now() + 60_000;
  const byId = (id: string) => document.querySelector(`[data-testid="${id}"]`)!;
  const assistant = () => [...byId("output").querySelectorAll(".turn.assistant")].at(-1)?.textContent ?? "";
  while (Date.now() < deadline) {
    const idle = document.body.dataset.state === "idle";
    const ok = (!arg.idle || idle) &&
      (arg.minChars === undefined || assistant().length >= arg.minChars + "Model".length) &&
      (arg.where === undefined || byId("where").textContent === arg.where);
    if (ok) {
      const saved = JSON.parse(localStorage.getItem("playground.sessions") ?? "[]");
      const active = saved.find((s: { id: string }) => s.id === localStorage.getItem("playground.active"));
      return {
        text: active?.turns.at(-1)?.text ?? "",
        pending: active?.pending,
        id: active?.id,
        status: byId("status").textContent,
        ttft: byId("ttft").textContent,
        speed: byId("speed").textContent,
        state: byId("state").textContent,
      };
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${JSON.stringify(arg)}: status "${byId("status").textContent}"`);
}

async function api(base: string, path: string, body?: unknown) {
  const res = await fetch(base + path, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return await res.json();
}

/** Text the server generates for a fresh session, in one uninterrupted request. */
async function serverRun(base: string, create: unknown, generate: Record<string, unknown>) {
  const session = await api(base, "/v1/sessions", create);
  return (await api(base, `/v1/sessions/${session.id}/generate`, { ...generate, stream: false }))
    .text as string;
}

Deno.test({
  name: "playground: stream, stop, and a reload mid-stream that reattaches with nothing lost or repeated" +
    skip,
  ignore: CHROMIUM === undefined,
  fn: async () => {
    const server = await startServer({ STORE: "memory" });
    await using browser = openBrowser(CHROMIUM!);
    try {
      const page = `${server.base}/`;
      const started = performance.now();
      const paint = await browser.run(page, async () => {
        while (!performance.getEntriesByName("first-contentful-paint").length) {
          await new Promise((r) => setTimeout(r, 10));
        }
        return performance.getEntriesByName("first-contentful-paint")[0].startTime;
      }, null);
      console.log(
        `first contentful paint ${paint.toFixed(0)} ms (page loaded in ${
          (performance.now() - started).toFixed(0)
        } ms from the test)`,
      );
      assert.equal(await browser.run(page, () => document.title, null), "Recurrent playground");
      await browser.run(page, waitFor, { idle: true });

      // Stop: the stream ends early and the session is free for the next request.
      const controls = { mode: "completion", max_tokens: "3000", temperature: "0.9", seed: "7" };
      await browser.run(page, setAndClick, {
        values: { ...controls, prompt: "In the beginning" },
        click: "send",
      });
      const partial = await browser.run(page, waitFor, { minChars: 20 });
      assert.ok(partial.pending, "still generating when stopped");
      await browser.run(page, setAndClick, { values: {}, click: "stop" });
      const stopped = await browser.run(page, waitFor, { idle: true });
      assert.match(stopped.status, /^done \(cancelled/, "the server ended the generation");
      assert.ok(stopped.text.length >= 20);
      assert.match(stopped.ttft, /^\d+ ms$/);
      const info = await api(server.base, `/v1/sessions/${stopped.id}`);
      assert.equal(info.generating, false, "a stopped generation does not hold the session");

      // Reload mid-stream: the page reattaches from its last event and shows the whole text.
      await browser.run(page, setAndClick, { values: { mode: "completion" }, click: "new" });
      const sampling = { max_tokens: "600", temperature: "0.9", seed: "7" };
      await browser.run(page, setAndClick, {
        values: { ...sampling, prompt: "And God said" },
        click: "send",
      });
      const before = await browser.run(page, waitFor, { minChars: 30 });
      assert.ok(before.pending, "the reload happens mid-stream");
      await browser.reload();
      await browser.run(page, waitFor, { where: "server" }); // loaded: reattached or done
      const after = await browser.run(page, waitFor, { idle: true });
      assert.equal(after.pending, undefined);
      const expected = await serverRun(server.base, {}, {
        prompt: "And God said",
        max_tokens: 600,
        ...SAMPLING,
      });
      assert.equal(after.text, expected);

      // Chat: the reply streams into a new session; then the page is photographed for the README.
      await browser.run(page, setAndClick, { values: { mode: "chat" }, click: "new" });
      await browser.run(page, setAndClick, {
        values: {
          max_tokens: "60",
          temperature: "0.8",
          seed: "3",
          prompt: "Who made the heaven and the earth?",
        },
        click: "send",
      });
      const reply = await browser.run(page, waitFor, { idle: true });
      assert.match(reply.status, /^done/);
      assert.ok(reply.text.length > 0);
      assert.match(reply.state, /^\d+ tokens in \d+ KB/);
      console.log(`on the server, in the page: time to first token ${reply.ttft}, decode ${reply.speed}`);
      const shot = Deno.env.get("PLAYGROUND_SCREENSHOT") ?? `${await Deno.makeTempDir()}/playground.png`;
      await browser.screenshot(shot);
      const png = await Deno.readFile(shot);
      assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG");
    } finally {
      server.child.kill("SIGTERM");
      await server.child.status;
    }
  },
});

Deno.test({
  name:
    "playground: a session continued in the browser and handed back equals the server's uninterrupted run" +
    skip,
  ignore: CHROMIUM === undefined,
  fn: async () => {
    const server = await startServer({ STORE: "memory" });
    await using browser = openBrowser(CHROMIUM!);
    try {
      const prompt = "In the beginning God created";
      const session = await api(server.base, "/v1/sessions", { prompt });
      const page = `${server.base}/?session=${session.id}`;
      await browser.run(page, waitFor, { idle: true });
      await browser.run(page, setAndClick, { values: { mode: "completion" }, click: "handoff" });
      const moved = await browser.run(page, waitFor, { idle: true, where: "this browser" });
      console.log(`handoff: ${moved.status}`);
      await browser.run(page, setAndClick, {
        values: { prompt: "", max_tokens: "30", temperature: "0.9", seed: "7" },
        click: "send",
      });
      const local = await browser.run(page, waitFor, { idle: true });
      assert.match(local.status, /^done \(length, 30 tokens\)/);
      console.log(
        `in the browser: time to first token ${local.ttft}, decode ${local.speed}; state ${local.state}`,
      );
      // A reload keeps the session in the browser (its state kept in IndexedDB after the generation).
      await browser.reload();
      const reloaded = await browser.run(page, waitFor, { idle: true, where: "this browser" });
      assert.equal(reloaded.text, local.text);
      await browser.run(page, setAndClick, { values: {}, click: "handback" });
      await browser.run(page, waitFor, { idle: true, where: "server" });
      const rest = await api(server.base, `/v1/sessions/${session.id}/generate`, {
        max_tokens: 30,
        temperature: 0.9,
        stream: false,
      });
      const whole = await serverRun(server.base, { prompt }, { max_tokens: 60, ...SAMPLING });
      assert.equal(local.text + rest.text, whole);
      // Model files come with caching headers: pinned to the fingerprint, or revalidated by ETag.
      const files = await api(server.base, `/v1/models/${session.model}/files`);
      const weights = files.data.find((f: { name: string }) => f.name.endsWith(".safetensors"));
      const pinned = await fetch(server.base + weights.url);
      await pinned.body?.cancel();
      assert.match(pinned.headers.get("cache-control")!, /immutable/);
      const again = await fetch(`${server.base}/v1/models/${session.model}/files/${weights.name}`, {
        headers: { "if-none-match": pinned.headers.get("etag")! },
      });
      assert.equal(again.status, 304);

      // Decode speed in the browser once warm (the 30 tokens above include the kernels' first runs).
      await browser.run(page, setAndClick, { values: {}, click: "handoff" });
      await browser.run(page, waitFor, { idle: true, where: "this browser" });
      await browser.run(page, setAndClick, {
        values: { mode: "completion", prompt: "", max_tokens: "300" },
        click: "send",
      });
      const warm = await browser.run(page, waitFor, { idle: true });
      assert.match(warm.status, /^done/);
      console.log(`in the browser, warm, 300 tokens: decode ${warm.speed}`);
    } finally {
      server.child.kill("SIGTERM");
      await server.child.status;
    }
  },
});
