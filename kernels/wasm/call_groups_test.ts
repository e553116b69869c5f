import assert from "node:assert/strict";
import { type CallSpan, groupCalls, independent } from "./call_groups.ts";

/** A groupable call reading bytes [x0, x1) and writing [o0, o1), x permuted with width `permute`. */
const call = (x0: number, x1: number, o0: number, o1: number, permute = 0): CallSpan => ({
  x: [x0, x1],
  out: [o0, o1],
  permute,
  groupable: true,
});

Deno.test("groupCalls joins calls that share an input and write apart", () => {
  // A layer's r, k, v projections of one input, and a fourth of another input.
  const calls = [
    call(0, 100, 100, 200),
    call(0, 100, 200, 300),
    call(0, 100, 300, 400),
    call(400, 500, 500, 600),
  ];
  assert.deepEqual(groupCalls(calls, 16), [4]);
});

Deno.test("groupCalls cuts before a call that reads what the group writes", () => {
  // A LoRA: down writes [100, 200), up reads it.
  assert.deepEqual(groupCalls([call(0, 100, 100, 200), call(100, 200, 200, 300)], 16), [1, 1]);
  // Only part of the output overlaps the next call's input: still a hazard.
  assert.deepEqual(groupCalls([call(0, 100, 100, 200), call(196, 300, 300, 400)], 16), [1, 1]);
});

Deno.test("groupCalls cuts before a call that writes what the group reads or writes", () => {
  // The next call writes the first call's input (the LoRA buffer reused for another LoRA).
  assert.deepEqual(groupCalls([call(0, 100, 100, 200), call(300, 400, 50, 60)], 16), [1, 1]);
  // Two outputs overlap.
  assert.deepEqual(groupCalls([call(0, 100, 100, 200), call(0, 100, 150, 250)], 16), [1, 1]);
  // The hazard is with an earlier member of the group, not the last one.
  const calls = [call(0, 100, 100, 200), call(0, 100, 200, 300), call(100, 200, 300, 400)];
  assert.deepEqual(groupCalls(calls, 16), [2, 1]);
});

Deno.test("groupCalls lets calls share an x permuted in place only when they permute it alike", () => {
  assert.ok(independent(call(0, 256, 256, 512, 64), call(0, 256, 512, 768, 64)));
  // One call reads x plain (f32) while the other permutes it (16-bit).
  assert.ok(!independent(call(0, 256, 256, 512, 0), call(0, 256, 512, 768, 64)));
  // The same bytes permuted as rows of different widths.
  assert.ok(!independent(call(0, 256, 256, 512, 64), call(0, 256, 512, 768, 32)));
  // Overlapping but different inputs, one of them permuted.
  assert.ok(!independent(call(0, 256, 256, 512, 64), call(128, 200, 512, 768, 0)));
  // Overlapping inputs that are only read.
  assert.ok(independent(call(0, 256, 256, 512, 0), call(128, 200, 512, 768, 0)));
});

Deno.test("groupCalls keeps a call that cannot be grouped on its own and caps a group's length", () => {
  const quantized: CallSpan = { ...call(0, 100, 400, 500), groupable: false };
  const calls = [call(0, 100, 100, 200), quantized, call(0, 100, 200, 300), call(0, 100, 300, 400)];
  assert.deepEqual(groupCalls(calls, 16), [1, 1, 2]);
  const many = Array.from({ length: 5 }, (_, i) => call(0, 100, 100 * (i + 1), 100 * (i + 2)));
  assert.deepEqual(groupCalls(many, 2), [2, 2, 1]);
  assert.deepEqual(groupCalls([], 2), []);
});
