// `deno task start --backend webgpu` (BACKEND=webgpu) serves the same greedy completion and seeded
// session streams (its picks sampled on the GPU; a second generation resumes the stored sampler
// state) as the WASM server, and with int8/q4 weights the greedy completion the reference
// backend gives with the same weights, on whatever adapter this machine has (lavapipe in CI).
import assert from "node:assert/strict";
import { startServer } from "./helpers/server.ts";
import { postJson, readEvents, textOf } from "./helpers/sse.ts";

const adapter = "gpu" in navigator ? await navigator.gpu.requestAdapter().catch(() => null) : null;
const why = adapter ? "" : " (skipped: no WebGPU adapter here; apt-get install mesa-vulkan-drivers)";

Deno.test({
  name: "a server on the WebGPU backend answers as the WASM one" + why,
  ignore: !adapter,
  async fn() {
    const texts: string[][] = [];
    for (const backend of ["webgpu", "wasm"]) {
      const server = await startServer({ STORE: "memory", BACKEND: backend });
      try {
        assert.match(server.log, new RegExp(`${backend} backend`));
        const greedy = await (await postJson(`${server.base}/v1/completions`, {
          prompt: "In the beginning",
          max_tokens: 24,
          temperature: 0,
        })).json();
        const session = await (await postJson(`${server.base}/v1/sessions`, { prompt: "And God said" }))
          .json();
        const events = await readEvents(
          await postJson(`${server.base}/v1/sessions/${session.id}/generate`, { max_tokens: 16, seed: 3 }),
        );
        // Sampled with every filter and penalty, then resumed from the stored session: the sampler state
        // the GPU picks left (PRNG position, counts) is the one the WASM server left.
        const sampled = { temperature: 0.9, top_k: 40, top_p: 0.9, min_p: 0.02, presence_penalty: 0.5 };
        const generate = (body: object) =>
          postJson(`${server.base}/v1/sessions/${session.id}/generate`, body);
        const first = await readEvents(await generate({ max_tokens: 12, seed: 5, ...sampled }));
        const resumed = await readEvents(
          await generate({ max_tokens: 12, ...sampled, frequency_penalty: 0.3 }),
        );
        texts.push([greedy.choices[0].text, textOf(events), textOf(first), textOf(resumed)]);
      } finally {
        server.child.kill("SIGTERM");
        await server.child.status;
      }
    }
    assert.ok(texts[0][0].length > 0);
    assert.deepEqual(texts[0], texts[1]);
  },
});

Deno.test({
  name: "a server on WebGPU with WEIGHTS=int8 or q4 answers a greedy completion as the reference backend" +
    why,
  ignore: !adapter,
  async fn() {
    for (const weights of ["int8", "q4"]) {
      const texts: string[] = [];
      for (const backend of ["webgpu", "reference"]) {
        // int8 with one step in flight (STEPS_AHEAD), q4 with the default three.
        const ahead: Record<string, string> = weights === "int8" ? { STEPS_AHEAD: "1" } : {};
        const server = await startServer({ STORE: "memory", BACKEND: backend, WEIGHTS: weights, ...ahead });
        try {
          const res = await postJson(`${server.base}/v1/completions`, {
            prompt: "In the beginning",
            max_tokens: 16,
            temperature: 0,
          });
          texts.push((await res.json()).choices[0].text);
        } finally {
          server.child.kill("SIGTERM");
          await server.child.status;
        }
      }
      assert.ok(texts[0].length > 0);
      assert.equal(
        texts[0],
        texts[1],
        `${weights}: WebGPU vs the reference (it dequantizes the same weights)`,
      );
    }
  },
});
