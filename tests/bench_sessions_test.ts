// The bench's session timings run on the engine as it is (they went stale once, unnoticed, when
// appending tokens became asynchronous): one short resume row on the default model, no timing
// asserted (speed lives in `deno task bench`).
import assert from "node:assert/strict";
import { benchResume } from "../bench/sessions.ts";
import { DEFAULT_MODEL_DIR } from "../cli/defaults.ts";
import { loadModel } from "../models/load.ts";

Deno.test("bench: resuming a stored session and re-prefilling its history both run", async () => {
  const loaded = await loadModel(DEFAULT_MODEL_DIR, { threads: 1 });
  try {
    const lines = await benchResume(loaded, [10]);
    assert.equal(lines.length, 3);
    const cells = lines[2].split("|").map((c) => c.trim()).filter((c) => c !== "");
    assert.equal(cells[0], "10");
    for (const ms of cells.slice(1, 3)) assert.ok(Number(ms) > 0, `a time in ms, got "${ms}"`);
  } finally {
    loaded.model.backend.close();
  }
});
