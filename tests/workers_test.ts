// The same API on Cloudflare's runtime: a real `wrangler dev` (workerd, offline) serving the
// bundled default model gives the same seeded completions, chat stream and session stream as the
// Deno server. Skipped, saying so, where `deno task workers:setup` has not installed wrangler.
import assert from "node:assert/strict";
import { readEvents } from "./helpers/sse.ts";
import { startServer } from "./helpers/server.ts";
import { startWrangler, wranglerMissing } from "./helpers/wrangler.ts";

const ROOT = new URL("../", import.meta.url).pathname;

if (wranglerMissing) console.warn(`workers_test skipped: ${wranglerMissing}`);

const post = (base: string, path: string, body: unknown) =>
  fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

Deno.test({
  name:
    "wrangler dev (workerd) serves completions, chat streams and sessions token for token as the Deno server",
  ignore: wranglerMissing !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const persist = await Deno.makeTempDir();
    const workers = await startWrangler({ persist });
    const deno = await startServer({ STORE: "memory" });
    try {
      const completion = {
        prompt: "In the beginning",
        max_tokens: 24,
        seed: 11,
        temperature: 0.9,
        top_p: 0.95,
      };
      const [a, b] = await Promise.all(
        [workers.base, deno.base].map((base) =>
          post(base, "/v1/completions", completion).then((r) => r.json())
        ),
      );
      assert.ok(a.choices?.[0]?.text, JSON.stringify(a));
      assert.equal(a.choices[0].text, b.choices[0].text);
      assert.deepEqual(a.usage, b.usage);

      const chat = {
        messages: [{ role: "user", content: "Who made the light?" }],
        max_tokens: 16,
        seed: 5,
        stream: true,
      };
      const streams = [];
      for (const base of [workers.base, deno.base]) {
        const text = await (await post(base, "/v1/chat/completions", chat)).text();
        const deltas = text.split("\n").filter((l) => l.startsWith("data: ") && l !== "data: [DONE]")
          .map((l) => JSON.stringify(JSON.parse(l.slice(6)).choices[0]?.delta));
        streams.push(deltas);
      }
      assert.ok(streams[0].length > 3);
      assert.deepEqual(streams[0], streams[1]);

      // A session spans requests: created by one, generated on and streamed by another.
      const texts = [];
      for (const base of [workers.base, deno.base]) {
        const session = await (await post(base, "/v1/sessions", { prompt: "And God said" })).json();
        const events = await readEvents(
          await post(base, `/v1/sessions/${session.id}/generate`, { max_tokens: 12, seed: 3 }),
        );
        assert.equal(events.at(-1)?.event, "done");
        texts.push(events.filter((e) => e.event === "token").map((e) => e.data.text).join(""));
      }
      assert.ok(texts[0].length > 0);
      assert.equal(texts[0], texts[1]);

      // The playground: the same page and scripts, the kernels' bytes, and the model's files.
      for (const base of [workers.base, deno.base]) {
        const page = await fetch(`${base}/`, { headers: { accept: "text/html" } });
        assert.match(await page.text(), /<title>Recurrent playground<\/title>/);
        assert.equal((await (await fetch(`${base}/`)).json()).status, "ok", "other clients get JSON");
        const script = await fetch(`${base}/playground/local_worker.js`);
        assert.equal(await script.text(), await Deno.readTextFile(`${ROOT}playground/dist/local_worker.js`));
        const kernels = await fetch(`${base}/playground/kernels.wasm`);
        assert.equal(kernels.headers.get("content-type"), "application/wasm");
        assert.deepEqual(
          new Uint8Array(await kernels.arrayBuffer()),
          await Deno.readFile(`${ROOT}kernels/wasm/kernels.wasm`),
        );
        const files = await (await fetch(`${base}/v1/models/rwkv7-kjv-4m/files`)).json();
        assert.deepEqual(files.data.map((f: { name: string }) => f.name).sort(), [
          "model.safetensors",
          "vocab.txt",
        ]);
        const vocab = await fetch(`${base}/v1/models/rwkv7-kjv-4m/files/vocab.txt`);
        assert.equal(await vocab.text(), await Deno.readTextFile(`${ROOT}assets/rwkv7-kjv-4m/vocab.txt`));
      }
    } finally {
      deno.child.kill("SIGTERM");
      await deno.child.status;
      await workers.stop();
      await Deno.remove(persist, { recursive: true });
    }
  },
});
