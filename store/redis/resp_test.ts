import assert from "node:assert/strict";
import { encodeCommand, RedisError, type Reply, ReplyReader } from "./resp.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

/** Feeds `wire` to a reader in pieces of `step` bytes; returns every reply parsed. */
function parseAll(wire: Uint8Array, step: number): Reply[] {
  const reader = new ReplyReader();
  const out: Reply[] = [];
  for (let at = 0; at < wire.length; at += step) {
    const piece = wire.subarray(at, Math.min(wire.length, at + step));
    for (let i = 0; i < piece.length;) {
      const space = reader.space();
      const n = Math.min(space.length, piece.length - i);
      space.set(piece.subarray(i, i + n));
      reader.wrote(n);
      i += n;
    }
    for (let r = reader.next(); r; r = reader.next()) out.push(r.value);
  }
  return out;
}

Deno.test("RESP replies parse the same whichever way the stream is cut", () => {
  const binary = Uint8Array.from({ length: 300 }, (_, i) => (i * 37) & 0xff);
  const parts = [
    bytes("+OK\r\n:42\r\n$-1\r\n*-1\r\n-NOSCRIPT No matching script\r\n$0\r\n\r\n"),
    bytes("*2\r\n*2\r\n$3\r\nkey\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\np\r\n$1\r\n7\r\n:1\r\n"),
    bytes("$300\r\n"),
    binary,
    bytes("\r\n"),
  ];
  const wire = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (wire.set(p, at), at + p.length), 0);
  const expected = [
    "OK",
    42,
    null,
    null,
    new RedisError("NOSCRIPT No matching script"),
    new Uint8Array(0),
    [[bytes("key"), [[bytes("1-0"), [bytes("p"), bytes("7")]]]], 1],
    binary,
  ];
  for (const step of [1, 2, 3, 7, 64, wire.length]) {
    assert.deepEqual(parseAll(wire, step), expected, `cut every ${step} bytes`);
  }
});

Deno.test("commands are arrays of bulk strings; big byte arguments are passed through uncopied", () => {
  const big = new Uint8Array(10_000).fill(13);
  const parts = encodeCommand(["SET", "k", big, 5]);
  assert.ok(parts.includes(big), "the blob itself is one of the parts");
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (joined.set(p, at), at + p.length), 0);
  const prefix = bytes("*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$10000\r\n");
  const suffix = bytes("\r\n$1\r\n5\r\n");
  const expected = new Uint8Array(prefix.length + big.length + suffix.length);
  expected.set(prefix);
  expected.set(big, prefix.length);
  expected.set(suffix, prefix.length + big.length);
  assert.deepEqual(joined, expected);
});
