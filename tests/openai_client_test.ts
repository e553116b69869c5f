// The official `openai` npm client against a real server process (the embedded default model):
// each compatibility item a client's defaults depend on, as the client sends and reads it.
import assert from "node:assert/strict";
import { OpenAI } from "./helpers/dev_deps.ts";
import { startServer } from "./helpers/server.ts";
import { postJson } from "./helpers/sse.ts";

Deno.test("the official openai client works against a real server", async (t) => {
  const { child, base } = await startServer({ STORE: "memory", QUOTA_RPM: "0" });
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused", maxRetries: 0 });
  const prompt = "In the beginning God created";
  try {
    await t.step("models.list and models.retrieve", async () => {
      const list = await client.models.list();
      assert.equal(list.data[0].id, "rwkv7-kjv-4m");
      const one = await client.models.retrieve("rwkv7-kjv-4m");
      assert.equal(one.id, "rwkv7-kjv-4m");
      assert.equal(one.object, "model");
      await assert.rejects(client.models.retrieve("nope"), (err) => err instanceof OpenAI.NotFoundError);
    });

    await t.step(
      "stream_options.include_usage: a last chunk with no choices and the usage (completions)",
      async () => {
        const stream = await client.completions.create({
          model: "rwkv7-kjv-4m",
          prompt,
          max_tokens: 12,
          seed: 1,
          stream: true,
          stream_options: { include_usage: true },
        });
        const chunks = [];
        for await (const chunk of stream) chunks.push(chunk);
        const last = chunks.at(-1)!;
        assert.deepEqual(last.choices, []);
        assert.equal(last.usage!.completion_tokens, 12);
        assert.ok(last.usage!.prompt_tokens > 0);
        assert.equal(last.usage!.total_tokens, last.usage!.prompt_tokens + 12);
        for (const chunk of chunks.slice(0, -1)) assert.equal(chunk.usage, null);
        const text = chunks.flatMap((c) => c.choices.map((x) => x.text)).join("");
        const plain = await client.completions.create({
          model: "rwkv7-kjv-4m",
          prompt,
          max_tokens: 12,
          seed: 1,
        });
        assert.equal(text, plain.choices[0].text);
      },
    );

    await t.step("stream_options.include_usage on chat, with the client's stream helper", async () => {
      const stream = await client.chat.completions.create({
        model: "rwkv7-kjv-4m",
        messages: [{ role: "user", content: "Who made the light?" }],
        max_tokens: 10,
        seed: 2,
        stream: true,
        stream_options: { include_usage: true },
      });
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      const last = chunks.at(-1)!;
      assert.deepEqual(last.choices, []);
      const completion = last.usage!.completion_tokens;
      assert.ok(completion >= 1 && completion <= 10);
      assert.equal(chunks.filter((c) => c.choices[0]?.finish_reason).length, 1);
    });

    await t.step("null optional fields are treated as absent", async () => {
      const res = await postJson(`${base}/v1/chat/completions`, {
        messages: [{ role: "user", content: "Hi", name: null }],
        max_tokens: 4,
        n: null,
        logprobs: null,
        top_logprobs: null,
        stop: null,
        seed: null,
        stream: null,
        stream_options: null,
        response_format: null,
        temperature: null,
        user: null,
      });
      assert.equal(res.status, 200, await res.clone().text());
      const body = await res.json();
      assert.equal(body.choices.length, 1);
      assert.equal(body.choices[0].logprobs, null);
      const cmpl = await postJson(`${base}/v1/completions`, {
        prompt,
        max_tokens: 3,
        logprobs: null,
        echo: null,
      });
      assert.equal(cmpl.status, 200);
      assert.equal((await cmpl.json()).choices[0].logprobs, null);
    });

    await t.step(
      "content as an array of text parts, and the developer role, read as the plain forms",
      async () => {
        const ask = async (messages: OpenAI.ChatCompletionMessageParam[]) =>
          (await client.chat.completions.create({
            messages,
            model: "rwkv7-kjv-4m",
            max_tokens: 8,
            temperature: 0,
          }))
            .choices[0].message.content;
        const plain = await ask([
          { role: "system", content: "Answer from the book." },
          { role: "user", content: "Who is the shepherd?" },
        ]);
        const parts = await ask([
          { role: "developer", content: [{ type: "text", text: "Answer from the book." }] },
          {
            role: "user",
            content: [{ type: "text", text: "Who is the " }, { type: "text", text: "shepherd?" }],
          },
        ]);
        assert.equal(parts, plain);
        await assert.rejects(
          ask([{ role: "user", content: [{ type: "image_url", image_url: { url: "data:," } }] }]),
          (err) => err instanceof OpenAI.BadRequestError && /Only text content parts/.test(err.message),
        );
      },
    );

    await t.step(
      "response_format text is accepted; json_object gives an object, an unknown keyword a 400",
      async () => {
        const res = await client.chat.completions.create({
          model: "rwkv7-kjv-4m",
          messages: [{ role: "user", content: "Hi" }],
          max_tokens: 3,
          response_format: { type: "text" },
        });
        assert.equal(res.choices.length, 1);
        const json = await client.chat.completions.create({
          model: "rwkv7-kjv-4m",
          messages: [{ role: "user", content: "Hi" }],
          max_tokens: 200,
          seed: 3,
          response_format: { type: "json_object" },
        });
        const content = json.choices[0].message.content ?? "";
        if (json.choices[0].finish_reason === "stop") {
          const value = JSON.parse(content);
          assert.equal(typeof value, "object");
          assert.ok(value !== null && !Array.isArray(value), `an object, got ${content}`);
        } else {
          assert.match(content, /^\s*\{/, "a cut generation is still the start of an object");
        }
        await assert.rejects(
          client.chat.completions.create({
            model: "rwkv7-kjv-4m",
            messages: [{ role: "user", content: "Hi" }],
            response_format: {
              type: "json_schema",
              json_schema: { name: "x", schema: { type: "string", format: "email" } },
            },
          }),
          (err) => err instanceof OpenAI.BadRequestError && /format/.test(err.message),
        );
      },
    );

    await t.step("logit_bias steers greedy decoding and bans tokens", async () => {
      const greedy = await client.completions.create({
        prompt,
        max_tokens: 6,
        temperature: 0,
        model: "" + "rwkv7-kjv-4m",
      });
      const ids =
        (await (await postJson(`${base}/tokenize`, { content: greedy.choices[0].text })).json()).tokens;
      // Banning the first greedy token changes the first token; forcing another one makes it come first.
      const banned = await client.completions.create({
        model: "rwkv7-kjv-4m",
        prompt,
        max_tokens: 6,
        temperature: 0,
        logit_bias: { [ids[0]]: -100 },
      });
      const bannedIds =
        (await (await postJson(`${base}/tokenize`, { content: banned.choices[0].text })).json())
          .tokens;
      assert.notEqual(bannedIds[0], ids[0]);
      const forced = await client.completions.create({
        model: "rwkv7-kjv-4m",
        prompt,
        max_tokens: 1,
        temperature: 0,
        logit_bias: { [bannedIds[0]]: 100 },
        logprobs: 0,
      });
      assert.equal(forced.choices[0].text, await detok([bannedIds[0]]));
      await assert.rejects(
        client.completions.create({ model: "rwkv7-kjv-4m", prompt, logit_bias: { "999999": 5 } }),
        (err) => err instanceof OpenAI.BadRequestError && /outside the vocabulary/.test(err.message),
      );
    });

    await t.step("n > 1: independent choices, the first equal to n = 1 with the same seed", async () => {
      const one = await client.completions.create({ model: "rwkv7-kjv-4m", prompt, max_tokens: 16, seed: 9 });
      const three = await client.completions.create({
        model: "rwkv7-kjv-4m",
        prompt,
        max_tokens: 16,
        seed: 9,
        n: 3,
      });
      assert.deepEqual(three.choices.map((c) => c.index), [0, 1, 2]);
      assert.equal(three.choices[0].text, one.choices[0].text);
      assert.equal(new Set(three.choices.map((c) => c.text)).size, 3, "three seeds gave the same text");
      assert.equal(three.usage!.completion_tokens, 48);
      assert.equal(three.usage!.prompt_tokens, one.usage!.prompt_tokens);
      // Streamed, the chunks carry each choice's index and put together the same texts.
      const stream = await client.chat.completions.create({
        model: "rwkv7-kjv-4m",
        messages: [{ role: "user", content: "Tell me of Noah" }],
        max_tokens: 12,
        seed: 4,
        n: 2,
        stream: true,
      });
      const streamed = ["", ""];
      const finished = [0, 0];
      for await (const chunk of stream) {
        for (const c of chunk.choices) {
          streamed[c.index] += c.delta.content ?? "";
          if (c.finish_reason) finished[c.index]++;
        }
      }
      assert.deepEqual(finished, [1, 1]);
      const plain = await client.chat.completions.create({
        model: "rwkv7-kjv-4m",
        messages: [{ role: "user", content: "Tell me of Noah" }],
        max_tokens: 12,
        seed: 4,
        n: 2,
      });
      assert.deepEqual(streamed, plain.choices.map((c) => c.message.content));
    });

    await t.step(
      "n > 1 on a session: choice 0 continues it, each other choice a fork named in its choice",
      async () => {
        const session = await (await postJson(`${base}/v1/sessions`, { prompt: "In the beginning" })).json();
        const params = {
          model: "rwkv7-kjv-4m",
          messages: [{ role: "user" as const, content: "What was made?" }],
          max_tokens: 8,
          seed: 11,
          n: 3,
          ignore_eos: true,
          session_id: session.id,
        };
        const res = await client.chat.completions.create(
          params as OpenAI.ChatCompletionCreateParamsNonStreaming,
        );
        const choices = res.choices as (OpenAI.ChatCompletion.Choice & { session_id?: string })[];
        assert.equal(choices.length, 3);
        assert.equal(choices[0].session_id, undefined);
        const forks = [choices[1].session_id!, choices[2].session_id!];
        assert.ok(
          forks.every((id) => /^[0-9a-f]{32}$/.test(id)) && forks[0] !== forks[1],
          JSON.stringify(forks),
        );
        assert.equal(
          new Set(choices.map((c) => c.message.content)).size,
          3,
          "the choices are not independent",
        );
        // Each session holds the conversation plus its own reply: the same token count, its own text.
        const tokens = await Promise.all([session.id, ...forks].map(async (id) => {
          let info = await (await fetch(`${base}/v1/sessions/${id}`)).json();
          while (info.generating) info = await (await fetch(`${base}/v1/sessions/${id}`)).json();
          return info.tokens;
        }));
        assert.equal(new Set(tokens).size, 1, `tokens: ${tokens}`);
        assert.equal(tokens[0], session.tokens + res.usage!.prompt_tokens + 8);
      },
    );

    await t.step("echo with logprobs scores the prompt tokens (null for the first)", async () => {
      const scored = await client.completions.create({
        model: "rwkv7-kjv-4m",
        prompt,
        max_tokens: 0,
        echo: true,
        logprobs: 2,
      });
      const choice = scored.choices[0];
      assert.equal(choice.text, prompt);
      const lp = choice.logprobs!;
      const promptIds = (await (await postJson(`${base}/tokenize`, { content: prompt })).json()).tokens;
      assert.equal(lp.tokens!.length, promptIds.length);
      assert.equal(lp.token_logprobs![0], null);
      assert.equal(lp.tokens!.join(""), prompt);
      for (const v of lp.token_logprobs!.slice(1)) assert.ok(v! < 0 && Number.isFinite(v));
      // A token's logprob is what generation would have reported for it after the tokens before it.
      const prefix = await client.completions.create({
        model: "rwkv7-kjv-4m",
        prompt: promptIds.slice(0, 3),
        max_tokens: 1,
        temperature: 0,
        logprobs: 2,
        logit_bias: { [promptIds[3]]: 100 },
      });
      const forced = prefix.choices[0].logprobs!.token_logprobs![0]!;
      assert.ok(Math.abs(forced - lp.token_logprobs![3]!) < 1e-4, `${forced} vs ${lp.token_logprobs![3]}`);
      // With generated tokens the arrays go on past the prompt; streamed, the echo comes first.
      const more = await client.completions.create({
        model: "rwkv7-kjv-4m",
        prompt,
        max_tokens: 4,
        echo: true,
        logprobs: 0,
        seed: 1,
      });
      assert.equal(more.choices[0].logprobs!.tokens!.length, promptIds.length + 4);
      assert.ok(more.choices[0].text.startsWith(prompt));
      const stream = await client.completions.create({
        model: "rwkv7-kjv-4m",
        prompt,
        max_tokens: 4,
        echo: true,
        seed: 1,
        stream: true,
      });
      let text = "";
      for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
      assert.equal(text, more.choices[0].text);
    });

    await t.step("suffix and tools are refused with a message saying so", async () => {
      await assert.rejects(
        client.completions.create({ model: "rwkv7-kjv-4m", prompt, suffix: "amen" }),
        (err) => err instanceof OpenAI.BadRequestError && /suffix is not supported/.test(err.message),
      );
      await assert.rejects(
        client.chat.completions.create({
          model: "rwkv7-kjv-4m",
          messages: [{ role: "user", content: "Weather?" }],
          tools: [{ type: "function", function: { name: "weather", parameters: { type: "object" } } }],
        }),
        (err) =>
          err instanceof OpenAI.BadRequestError &&
          /Tools \(function calling\) are not supported/.test(err.message),
      );
    });

    await t.step("an unknown field is still a 400 naming it", async () => {
      const res = await postJson(`${base}/v1/chat/completions`, {
        messages: [{ role: "user", content: "Hi" }],
        surprise: 1,
      });
      assert.equal(res.status, 400);
      assert.match((await res.json()).error.message, /surprise/);
    });

    await t.step("POST /tokenize and /detokenize in llama.cpp's and vLLM's shapes", async () => {
      const llama = await (await postJson(`${base}/tokenize`, { content: prompt, with_pieces: true })).json();
      assert.equal(llama.tokens.map((t: { piece: string }) => t.piece).join(""), prompt);
      const ids = llama.tokens.map((t: { id: number }) => t.id);
      const vllm = await (await postJson(`${base}/tokenize`, { model: "rwkv7-kjv-4m", prompt })).json();
      assert.deepEqual(vllm.tokens, ids);
      assert.equal(vllm.count, ids.length);
      assert.equal(typeof vllm.max_model_len, "number");
      const back = await (await postJson(`${base}/detokenize`, { tokens: ids })).json();
      assert.equal(back.content, prompt);
      assert.equal(back.prompt, prompt);
      // The same ids as a prompt give the same completion as the text.
      const byIds = await client.completions.create({
        model: "rwkv7-kjv-4m",
        prompt: ids,
        max_tokens: 5,
        temperature: 0,
      });
      const byText = await client.completions.create({
        model: "rwkv7-kjv-4m",
        prompt,
        max_tokens: 5,
        temperature: 0,
      });
      assert.equal(byIds.choices[0].text, byText.choices[0].text);
      const chat = await (await postJson(`${base}/tokenize`, { messages: [{ role: "user", content: "Hi" }] }))
        .json();
      assert.equal(await detok(chat.tokens), "User: Hi\n\nAssistant:");
      const bad = await postJson(`${base}/detokenize`, { tokens: [1e9] });
      assert.equal(bad.status, 400);
      assert.match((await bad.json()).error.message, /outside the vocabulary/);
    });
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }

  async function detok(tokens: number[]): Promise<string> {
    return (await (await postJson(`${base}/detokenize`, { tokens })).json()).content;
  }
});
