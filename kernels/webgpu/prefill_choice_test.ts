import assert from "node:assert/strict";
import type { Op, RetentionOp, SsdScanOp } from "../ops.ts";
import { CHUNK } from "./chunked.ts";
import { Hold } from "./hold.ts";
import { defaultPrefillForm, longestRun, parsePrefillForm, PrefillChoice } from "./prefill_choice.ts";

// Only the fields the choice reads (the shape); the tensors are never touched.
const retention = { op: "retention", heads: 3, keyDim: 256, valueDim: 512 } as RetentionOp;
const ssd = { op: "ssdScan", heads: 24, headDim: 64, stateSize: 128, groups: 1 } as SsdScanOp;
const times = (chunked: number[], recurrent: number[]) => ({ chunked, recurrent });

Deno.test("longestRun reads a row table's first column", () => {
  assert.equal(longestRun([1, 0, 0, 1, 1, 0], 6), 3);
  assert.equal(longestRun([1, 1, 1], 3), 1);
  assert.equal(longestRun([1, 0, 0, 0, 1, 0], 4), 4, "only the first n rows count");
  assert.equal(longestRun([0, 0, 1, 0, 0, 0], 6), 4, "row 0 always starts a run");
});

Deno.test("PrefillChoice: short runs take the recurrence; the rest are timed once per shape and bucket", () => {
  const choice = new PrefillChoice();
  assert.equal(choice.form(retention, CHUNK - 1), "recurrent");
  assert.equal(choice.form(retention, 400), undefined, "not timed yet");
  assert.equal(choice.record(retention, 400, times([3, 1, 2], [4, 5, 6])), "chunked", "by median");
  assert.equal(choice.form(retention, 300), "chunked", "300 and 400 share the bucket 256..511");
  assert.equal(choice.form(retention, 512), undefined, "another bucket");
  assert.equal(choice.form(ssd, 512), undefined, "another op shape");
  assert.equal(choice.record(ssd, 512, times([9, 9, 1], [2, 3, 4])), "recurrent");
  assert.equal(choice.form(ssd, 1000), "recurrent");
});

Deno.test("PrefillChoice: a forced form needs no timing; names are checked", () => {
  assert.equal(new PrefillChoice("chunked").form(ssd, CHUNK), "chunked");
  assert.equal(new PrefillChoice("chunked").form(ssd, CHUNK - 1), "recurrent", "short runs");
  assert.equal(new PrefillChoice("recurrent").form(retention, 4096), "recurrent");
  assert.equal(parsePrefillForm("measure"), "measure");
  assert.throws(() => parsePrefillForm("chunkwise"), {
    name: "TypeError",
    message: /measure, chunked, recurrent/,
  });
  assert.throws(() => new PrefillChoice().form({ op: "wkv7" } as Op, 64), TypeError);
});

Deno.test("Hold runs held calls in call order, after the one that waits, then lets calls through", async () => {
  const hold = new Hold();
  const order: string[] = [];
  assert.equal(hold.active, false);
  let release!: () => void;
  const waiting = new Promise<void>((r) => release = r);
  const first = hold.after(async () => {
    await waiting;
    order.push("timed");
  });
  assert.equal(hold.active, true);
  const a = hold.after(() => order.push("write"));
  const b = hold.after(() => Promise.resolve(order.push("read")));
  await Promise.resolve();
  assert.deepEqual(order, [], "nothing runs while the first waits");
  release();
  await Promise.all([first, a, b]);
  assert.deepEqual(order, ["timed", "write", "read"]);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(hold.active, false, "empty again once all ran");
});

Deno.test("defaultPrefillForm: timing on a GPU, the recurrence on a software adapter", () => {
  assert.equal(defaultPrefillForm({ vendor: "nvidia", description: "NVIDIA H100 80GB HBM3" }), "measure");
  assert.equal(defaultPrefillForm({ description: "llvmpipe (LLVM 15.0.6, 256 bits)" }), "recurrent");
  assert.equal(defaultPrefillForm({ isFallbackAdapter: true }), "recurrent");
});
