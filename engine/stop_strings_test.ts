import assert from "node:assert/strict";
import { StopMatcher } from "./stop_strings.ts";

Deno.test("text that may begin a stop string is held, then released when it does not", () => {
  const m = new StopMatcher(["\n\n", "END"]);
  assert.deepEqual(m.push("Hello E"), { text: "Hello ", stopped: false });
  assert.deepEqual(m.push("N"), { text: "", stopped: false });
  assert.deepEqual(m.push("x"), { text: "ENx", stopped: false });
  assert.equal(m.flush(), "");
});

Deno.test("the stop string and what follows are never released", () => {
  const m = new StopMatcher(["\n\n"]);
  assert.deepEqual(m.push("line one\n"), { text: "line one", stopped: false });
  assert.deepEqual(m.push("\nline two"), { text: "", stopped: true });
});

Deno.test("the earliest of several stops wins", () => {
  const m = new StopMatcher(["cd", "b"]);
  assert.deepEqual(m.push("abcd"), { text: "a", stopped: true });
});

Deno.test("held text comes out on flush", () => {
  const m = new StopMatcher(["STOP"]);
  assert.deepEqual(m.push("go ST"), { text: "go ", stopped: false });
  assert.equal(m.flush(), "ST");
});
