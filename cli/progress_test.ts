import assert from "node:assert/strict";
import { Progress } from "./progress.ts";

Deno.test("not on a terminal: a start line, a plain line every tenth, a summary; no escape codes", () => {
  const out: string[] = [];
  const p = new Progress("scoring", {
    total: 50,
    unit: "passages",
    terminal: false,
    write: (t) => out.push(t),
  });
  for (let i = 0; i < 50; i++) p.tick();
  p.done();
  assert.equal(out[0], "scoring (50 passages)…\n");
  assert.equal(out.length, 1 + 9 + 1, out.join(""));
  assert.match(out[1], /^scoring: 5\/50 passages \(10 %\), [\d.]+\/s, ETA /);
  assert.match(out.at(-1)!, /^scoring: 50 passages in [\d.]+ s\n$/);
  assert.ok(out.every((l) => !l.includes("\x1b")));
});

Deno.test("on a terminal: the line is redrawn in place and ended by the summary", () => {
  const out: string[] = [];
  const p = new Progress("loading", { terminal: true, write: (t) => out.push(t) });
  p.refresh();
  p.done("loaded in 3 ms");
  assert.ok(out.slice(0, -1).every((l) => l.startsWith("\r\x1b[2Kloading: ") && !l.includes("\n")));
  assert.equal(out.at(-1), "\r\x1b[2Kloaded in 3 ms\n");
});
