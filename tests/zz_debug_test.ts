import { compileResponseFormat, generate, newSession } from "../engine/mod.ts";
import { loadModel } from "../models/mod.ts";
Deno.test("dbg", async () => {
  const loaded = await loadModel("assets/rwkv7-kjv-4m");
  const schema = {
    "type": "object",
    "properties": {
      "name": { "$ref": "#/$defs/d0" },
      "n": { "type": "boolean" },
      "kind": { "anyOf": [{ "$ref": "#/$defs/d1" }, { "type": "integer", "minimum": 66, "maximum": 210 }] },
      "é": {
        "anyOf": [{
          "anyOf": [{ "type": "integer", "minimum": -38, "maximum": 864 }, {
            "type": "number",
            "minimum": -2.2,
            "maximum": -1.0126509892754259,
          }],
        }, { "type": "array", "items": { "type": "null" }, "minItems": 0, "maxItems": 2 }],
      },
    },
    "required": ["name", "kind"],
    "additionalProperties": false,
    "$defs": { "d0": { "type": "boolean" }, "d1": { "type": ["string", "null"] } },
  };
  const session = newSession(loaded, 686529879);
  for await (
    const ev of generate(loaded, session, {
      prompt: loaded.tokenizer.encode("And the LORD said: "),
      maxTokens: 150,
      sampling: {
        temperature: 1,
        topP: 1,
        topK: 0,
        minP: 0,
        presencePenalty: 0,
        frequencyPenalty: 0,
        repetitionPenalty: 1,
      },
      grammar: compileResponseFormat({ type: "json_schema", json_schema: { name: "x", schema } }),
      flushAtEnd: true,
    })
  ) {
    console.log(JSON.stringify(ev));
  }
});
