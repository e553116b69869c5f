// Serverless for real, on a real `wrangler dev` (workerd, offline), against a Deno server as the
// uninterrupted reference:
// - a session generation longer than TOKENS_PER_INVOCATION pauses (a `paused` event) and each
//   `GET .../stream` with the last Last-Event-ID continues it: the text equals one seeded run;
// - generations run in the session's host Durable Object: a client that disconnects after a few
//   tokens does not end its generation; the object's alarm carries it through its pauses to the
//   end, and a later stream shows the same text as an uninterrupted run; so too a chat's fork
//   (n = 2) whose client left;
// - a model in the local R2 bucket (seeded from tests/fixtures) is served as on Deno, and one that
//   would pass MEMORY_BUDGET_MB is refused with a 503 and a message.
// Skipped, saying so, where `deno task workers:setup` has not installed wrangler.
import assert from "node:assert/strict";
import { postJson, readEvents, type SseEvent, textOf } from "./helpers/sse.ts";
import { startServer } from "./helpers/server.ts";
import { putLocalR2, startWrangler, wranglerMissing } from "./helpers/wrangler.ts";

if (wranglerMissing) console.warn(`workers_serverless_test skipped: ${wranglerMissing}`);

const BUDGET = 40;
const request = { max_tokens: 150, temperature: 0.8, seed: 77, ignore_eos: true };
const prompt = { prompt: "And God said" };
const tokens = (events: SseEvent[]) => events.filter((e) => e.event === "token");

/** A new session's seeded generation, streamed to its end, reconnecting after each pause. */
async function streamAcrossPauses(base: string): Promise<SseEvent[][]> {
  const id = (await (await postJson(`${base}/v1/sessions`, prompt)).json()).id;
  const runs = [await readEvents(await postJson(`${base}/v1/sessions/${id}/generate`, request))];
  while (runs.at(-1)!.at(-1)?.event === "paused" && runs.length < 20) {
    const headers = { "last-event-id": String(tokens(runs.flat()).at(-1)!.id) };
    runs.push(await readEvents(await fetch(`${base}/v1/sessions/${id}/stream`, { headers })));
  }
  return runs;
}

Deno.test({
  name: "workerd: generations pause at their token budget and continue exactly, in the session's object, " +
    "past a client's disconnect; models from R2 within the memory budget",
  ignore: wranglerMissing !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const persist = await Deno.makeTempDir();
    await putLocalR2(
      persist,
      "recurrent-models",
      "tiny3/model.safetensors",
      "tests/fixtures/rwkv7/tiny3/model.safetensors",
    );
    await putLocalR2(persist, "recurrent-models", "tiny3/vocab.txt", "tests/fixtures/rwkv7/tiny3/vocab.txt");
    await putLocalR2(
      persist,
      "recurrent-models",
      "too-big/model.safetensors",
      "tests/fixtures/rwkv7/tiny/model.safetensors",
    );
    // The default model takes 19.4 MB of the budget and tiny3 2.5 MB: 22.5 MB leaves too-big's 1.7 MB out.
    const vars = {
      TOKENS_PER_INVOCATION: String(BUDGET),
      CHECKPOINT_EVERY: "8",
      LEASE_MS: "1500",
      R2_MODELS: "tiny3,too-big",
      MEMORY_BUDGET_MB: "21.5",
    };
    const workers = await startWrangler({ persist, vars });
    const deno = await startServer({
      STORE: "memory",
      MODEL: "assets/rwkv7-kjv-4m,tests/fixtures/rwkv7/tiny3",
    });
    try {
      const [control] = await streamAcrossPauses(deno.base);
      assert.equal(control.at(-1)!.event, "done");
      assert.equal(tokens(control).length, 150);

      await t.step("a generation past TOKENS_PER_INVOCATION continues stream by stream", async () => {
        const runs = await streamAcrossPauses(workers.base);
        assert.ok(runs.length >= 2, `it paused (${runs.length} streams)`);
        const first = runs[0];
        assert.equal(first.at(-1)!.event, "paused");
        assert.equal(tokens(first).length, BUDGET);
        assert.equal(first.at(-1)!.data.generated, BUDGET);
        const events = runs.flat();
        assert.equal(events.at(-1)!.event, "done");
        const positions = tokens(events).map((e) => e.id);
        assert.deepEqual(
          positions,
          Array.from({ length: 150 }, (_, i) => positions[0] + i),
          "none lost or repeated",
        );
        assert.equal(textOf(events), textOf(control));
      });

      await t.step("chat on a session runs in its object and waits its pauses out", async () => {
        const chat = {
          messages: [{ role: "user", content: "Who made the light?" }],
          max_tokens: 100,
          seed: 9,
          ignore_eos: true,
        };
        const [a, b] = await Promise.all([workers.base, deno.base].map(async (base) => {
          const id = (await (await postJson(`${base}/v1/sessions`, {})).json()).id;
          return await (await postJson(`${base}/v1/chat/completions`, { ...chat, session_id: id })).json();
        }));
        assert.equal(a.usage?.completion_tokens, b.usage?.completion_tokens, JSON.stringify(a));
        assert.ok(a.usage.completion_tokens > BUDGET, "long enough to pause");
        assert.equal(a.choices[0].message.content, b.choices[0].message.content);
      });

      await t.step(
        "a client that disconnects does not end the generation: the alarm carries it on",
        async () => {
          const id = (await (await postJson(`${workers.base}/v1/sessions`, prompt)).json()).id;
          const cut = await readEvents(
            await postJson(`${workers.base}/v1/sessions/${id}/generate`, request),
            5,
          );
          assert.equal(tokens(cut).length, 5);
          const end = cut[0].id + 150;
          let info;
          for (let i = 0; i < 100; i++) {
            info = await (await fetch(`${workers.base}/v1/sessions/${id}`)).json();
            if (info.tokens === end && !info.generating) break;
            await new Promise((r) => setTimeout(r, 200));
          }
          assert.equal(info.tokens, end, "ran to the end with no client, through its pauses");
          const headers = { "last-event-id": String(cut.at(-1)!.id) };
          const rest = await readEvents(await fetch(`${workers.base}/v1/sessions/${id}/stream`, { headers }));
          assert.equal(rest.at(-1)!.event, "done");
          assert.equal(textOf(cut) + textOf(rest), textOf(control));
          assert.equal((rest.at(-1)!.data.usage as { completion_tokens: number }).completion_tokens, 150);
        },
      );

      await t.step(
        "a chat with n = 2 on a session, its client gone: the alarm carries the session and its fork on",
        async () => {
          const chat = {
            messages: [{ role: "user", content: "Who made the light?" }],
            max_tokens: 100,
            seed: 11,
            ignore_eos: true,
            n: 2,
          };
          const id = (await (await postJson(`${workers.base}/v1/sessions`, {})).json()).id;
          const response = await postJson(`${workers.base}/v1/chat/completions`, {
            ...chat,
            session_id: id,
            stream: true,
          });
          // Read until the fork is named and a few chunks came, then hang up.
          const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
          let seen = "", fork: string | undefined;
          while (!fork || seen.split("data:").length < 12) {
            const { value, done } = await reader.read();
            if (done) break;
            seen += value;
            for (const line of seen.split("\n").slice(0, -1)) { // whole lines only
              if (!line.startsWith("data: {")) continue;
              const choice = JSON.parse(line.slice(6)).choices?.find((c: { index: number }) => c.index === 1);
              fork ??= choice?.session_id;
            }
          }
          await reader.cancel();
          assert.ok(fork, `the fork's id in the stream: ${seen.slice(0, 400)}`);

          // The same chat on Deno, uninterrupted: the texts, and the token counts each session ends at.
          const did = (await (await postJson(`${deno.base}/v1/sessions`, {})).json()).id;
          const reference =
            await (await postJson(`${deno.base}/v1/chat/completions`, { ...chat, session_id: did }))
              .json();
          const ends = await Promise.all(
            [did, reference.choices[1].session_id].map(async (s) =>
              (await (await fetch(`${deno.base}/v1/sessions/${s}`)).json()).tokens
            ),
          );

          const texts: string[] = [];
          for (const [k, s] of [id, fork].entries()) {
            let info;
            for (let i = 0; i < 100; i++) {
              info = await (await fetch(`${workers.base}/v1/sessions/${s}`)).json();
              if (info.tokens === ends[k] && !info.generating) break;
              await new Promise((r) => setTimeout(r, 200));
            }
            assert.equal(
              info.tokens,
              ends[k],
              `${k === 0 ? "the session" : "the fork"} ran to its end, no client`,
            );
            const events = await readEvents(await fetch(`${workers.base}/v1/sessions/${s}/stream`));
            assert.equal(events.at(-1)!.event, "done");
            assert.equal(tokens(events).length, 100, "through its pauses");
            texts.push(textOf(events));
          }
          assert.deepEqual(
            texts,
            reference.choices.map((c: { message: { content: string } }) => c.message.content),
          );
        },
      );

      await t.step(
        "a model from R2 answers as on Deno; one past MEMORY_BUDGET_MB is refused with 503",
        async () => {
          const models = await (await fetch(`${workers.base}/v1/models`)).json();
          assert.deepEqual(models.data.map((m: { id: string }) => m.id).sort(), ["rwkv7-kjv-4m", "tiny3"]);
          const completion = { model: "tiny3", prompt: "The ", max_tokens: 12, seed: 5, temperature: 0.9 };
          const [a, b] = await Promise.all(
            [workers.base, deno.base].map(async (base) =>
              await (await postJson(`${base}/v1/completions`, completion)).json()
            ),
          );
          assert.ok(a.choices?.[0]?.text, JSON.stringify(a));
          assert.equal(a.choices[0].text, b.choices[0].text);
          const refused = await postJson(`${workers.base}/v1/completions`, {
            ...completion,
            model: "too-big",
          });
          assert.equal(refused.status, 503);
          const { error } = await refused.json();
          assert.match(error.message, /"too-big" needs .*MEMORY_BUDGET_MB/);
          assert.equal(error.code, "model_too_large");
        },
      );
    } finally {
      deno.child.kill("SIGTERM");
      await deno.child.status;
      await workers.stop();
      await Deno.remove(persist, { recursive: true });
    }
  },
});

Deno.test({
  name: "workerd: a model R2_MODELS names that the bucket lacks answers 503 with the key, not a crash",
  ignore: wranglerMissing !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const persist = await Deno.makeTempDir();
    const workers = await startWrangler({ persist, vars: { R2_MODELS: "missing" }, readyStatus: 503 });
    try {
      for (const path of ["/v1/models", "/v1/sessions/x/stream"]) {
        const res = await fetch(`${workers.base}${path}`);
        assert.equal(res.status, 503);
        const { error } = await res.json();
        assert.equal(error.code, "model_load_failed");
        assert.match(error.message, /no missing\/model\.safetensors: upload it/);
      }
    } finally {
      await workers.stop();
      await Deno.remove(persist, { recursive: true });
    }
  },
});
