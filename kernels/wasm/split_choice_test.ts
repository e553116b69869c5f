import assert from "node:assert/strict";
import { SplitChoice } from "./split_choice.ts";

/** A clock that each call advances by the cost of the way it ran. */
function timed(costs: { split: number; alone: number }) {
  let now = 0;
  const ways: string[] = [];
  const choice = new SplitChoice(() => now);
  const call = (key = "k") =>
    choice.run(key, () => {
      ways.push("split");
      now += costs.split;
    }, () => {
      ways.push("alone");
      now += costs.alone;
    });
  return { choice, call, ways, costs };
}

Deno.test("SplitChoice tries both ways, then keeps the faster", () => {
  const t = timed({ split: 1, alone: 3 });
  for (let i = 0; i < 10; i++) t.call();
  assert.equal(t.ways.filter((w) => w === "split").length, 5);
  assert.equal(t.choice.chosen("k"), true);
  for (let i = 0; i < 100; i++) t.call();
  assert.deepEqual(new Set(t.ways.slice(10)), new Set(["split"]));

  const slow = timed({ split: 5, alone: 2 });
  for (let i = 0; i < 110; i++) slow.call();
  assert.equal(slow.choice.chosen("k"), false);
  assert.deepEqual(new Set(slow.ways.slice(10)), new Set(["alone"]));
});

Deno.test("SplitChoice learns each kind of call on its own, and tries again as the machine changes", () => {
  const t = timed({ split: 1, alone: 3 });
  for (let i = 0; i < 10; i++) t.call("a");
  assert.equal(t.choice.chosen("a"), true);
  assert.equal(t.choice.chosen("b"), undefined);
  t.costs.split = 10; // the other core got busy
  let calls = 0;
  while (t.choice.chosen("a") !== false && calls < 1000) {
    t.call("a");
    calls++;
  }
  assert.equal(t.choice.chosen("a"), false, "a later trial found splitting slower");
  assert.ok(calls > 250, `it kept its choice between trials (${calls} calls)`);
});
