import assert from "node:assert/strict";
import { decodeStreaming, Utf8Stream } from "./utf8_stream.ts";

const bytes = (...b: number[]) => Uint8Array.from(b);

Deno.test("a character split across pushes comes out whole, once", () => {
  const s = new Utf8Stream();
  const euro = new TextEncoder().encode("€"); // e2 82 ac
  assert.equal(s.push(bytes(0x41, euro[0])), "A");
  assert.deepEqual([...s.carry], [0xe2]);
  assert.equal(s.push(euro.subarray(1, 2)), "");
  assert.equal(s.push(euro.subarray(2)), "€");
  assert.equal(s.carry.length, 0);
});

Deno.test("four-byte characters split at every byte", () => {
  const emoji = new TextEncoder().encode("😀");
  for (let cut = 1; cut < 4; cut++) {
    const first = decodeStreaming(new Uint8Array(0), emoji.subarray(0, cut));
    assert.equal(first.text, "");
    const second = decodeStreaming(first.carry, emoji.subarray(cut));
    assert.equal(second.text, "😀");
  }
});

Deno.test("bytes that can never form a character come out as U+FFFD instead of waiting", () => {
  assert.equal(new Utf8Stream().push(bytes(0xff)), "\ufffd");
  assert.equal(new Utf8Stream().push(bytes(0x80)), "\ufffd");
  // e0 followed by 0x80 is an overlong prefix: invalid at once.
  assert.equal(new Utf8Stream().push(bytes(0xe0, 0x80)), "\ufffd\ufffd");
  // ed a0 would be a surrogate: invalid at once.
  assert.ok(new Utf8Stream().push(bytes(0xed, 0xa0)).includes("\ufffd"));
});

Deno.test("flush turns an incomplete tail into U+FFFD", () => {
  const s = new Utf8Stream();
  assert.equal(s.push(bytes(0x68, 0xf0, 0x9f)), "h");
  assert.equal(s.flush(), "\ufffd");
});

Deno.test("a restored carry continues the character", () => {
  const s = new Utf8Stream(bytes(0xe4, 0xb8));
  assert.equal(s.push(bytes(0xad)), "中");
});
