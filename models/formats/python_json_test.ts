import assert from "node:assert/strict";
import { parsePythonJson } from "./python_json.ts";

Deno.test("bare Infinity, -Infinity and NaN become numbers, at any depth", () => {
  assert.deepEqual(parsePythonJson('{"time_step_limit": [0.0, Infinity]}'), {
    time_step_limit: [0, Infinity],
  });
  assert.deepEqual(parsePythonJson("[-Infinity,Infinity,NaN]"), [-Infinity, Infinity, NaN]);
  assert.deepEqual(
    parsePythonJson('{"a": {"b": [1, {"c": -Infinity}]}, "d": NaN}'),
    { a: { b: [1, { c: -Infinity }] }, d: NaN },
  );
  assert.equal(parsePythonJson("Infinity"), Infinity);
  assert.equal(parsePythonJson(" -Infinity\n"), -Infinity);
});

Deno.test("the words inside strings, keys and escapes are left alone", () => {
  const text = String
    .raw`{"Infinity": "Infinity", "s": "NaN and -Infinity", "q": "\"Infinity\"", "e": "\\", "x": NaN}`;
  assert.deepEqual(parsePythonJson(text), {
    Infinity: "Infinity",
    s: "NaN and -Infinity",
    q: '"Infinity"',
    e: "\\",
    x: NaN,
  });
  assert.deepEqual(parsePythonJson('["a\\"", Infinity, "NaN"]'), ['a"', Infinity, "NaN"]);
});

Deno.test('{"__float__": …} objects become numbers; other objects stay objects', () => {
  assert.deepEqual(
    parsePythonJson(
      '{"limit": [{"__float__": "0.0"}, {"__float__": "Infinity"}], "n": {"__float__": "NaN"}}',
    ),
    { limit: [0, Infinity], n: NaN },
  );
  const spellings: [string, number][] = [
    ["-Infinity", -Infinity],
    ["inf", Infinity],
    ["+inf", Infinity],
    ["-inf", -Infinity],
    ["nan", NaN],
    ["1e-05", 1e-5],
    ["-2.5", -2.5],
  ];
  for (const [text, value] of spellings) {
    assert.deepEqual(parsePythonJson(`{"x": {"__float__": "${text}"}}`), { x: value }, text);
  }
  assert.deepEqual(
    parsePythonJson('{"__float__": "1", "other": 2}'),
    { __float__: "1", other: 2 },
  );
});

Deno.test("what Python would not have written is still a SyntaxError", () => {
  for (const text of ["{", "[Infinityx]", "[infinity]", "[1 NaN]", '{"a": Inf}', "[--Infinity]"]) {
    assert.throws(() => parsePythonJson(text), SyntaxError, text);
  }
  assert.throws(
    () => parsePythonJson('{"x": {"__float__": "abc"}}'),
    /\{"__float__": "abc"\} is not a float/,
  );
  assert.throws(() => parsePythonJson('{"x": {"__float__": 1}}'), /is not a float/);
});
