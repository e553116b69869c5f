import assert from "node:assert/strict";
import { chatTemplate, RWKV_CHAT } from "./chat_template.ts";

const messages = [
  { role: "system" as const, content: "Be brief." },
  { role: "user" as const, content: "Hi\n\nthere" },
];

Deno.test("without a template of its own a model gets RWKV's turns, stopping at the blank line", () => {
  const t = chatTemplate({});
  assert.equal(t, RWKV_CHAT);
  assert.equal(t.render(messages, { separate: false }), "System: Be brief.\n\nUser: Hi\nthere\n\nAssistant:");
  assert.equal(t.render(messages.slice(1), { separate: true }), "\n\nUser: Hi\nthere\n\nAssistant:");
  assert.deepEqual(t.stop, ["\n\n"]);
});

Deno.test("a checkpoint's own Jinja template is rendered with a generation prompt and its special tokens", () => {
  const source =
    "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{{ eos_token }}{% endfor %}" +
    "{% if add_generation_prompt %}<|assistant|>{% endif %}";
  const t = chatTemplate({ chatTemplate: { source, bosToken: "<s>", eosToken: "</s>" } });
  assert.equal(
    t.render(messages, { separate: false }),
    "<s><|system|>Be brief.</s><|user|>Hi\n\nthere</s><|assistant|>",
  );
  assert.deepEqual(t.stop, []);
});
