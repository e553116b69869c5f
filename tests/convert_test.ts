// deno task convert: a real torch.save archive becomes the same safetensors the fixture
// generator wrote; pickles that do more than describe tensors are refused.
import assert from "node:assert/strict";
import { readStateDictPickle } from "../models/formats/pickle.ts";
import { readPth } from "../models/formats/pth.ts";
import { ModelLoadError, parseSafetensors } from "../models/mod.ts";

const FIX = new URL("./fixtures/rwkv7/", import.meta.url).pathname;

Deno.test("a torch.save .pth converts to exactly the fixture's safetensors tensors", () => {
  for (const name of ["tiny", "tiny3"]) {
    const fromPth = readPth(Deno.readFileSync(`${FIX}${name}/model.pth`));
    const expected = parseSafetensors(Deno.readFileSync(`${FIX}${name}/model.safetensors`));
    assert.equal(fromPth.length, expected.size);
    for (const t of fromPth) {
      const e = expected.get(t.name);
      assert.ok(e, `unexpected tensor ${t.name}`);
      assert.equal(t.dtype, e.dtype);
      assert.deepEqual(t.shape, e.shape, t.name);
      assert.deepEqual(t.bytes, e.bytes, t.name);
    }
  }
});

Deno.test("deno task convert writes a loadable safetensors file", async () => {
  const out = await Deno.makeTempFile({ suffix: ".safetensors" });
  const cmd = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "cli/convert.ts", `${FIX}tiny/model.pth`, out],
    cwd: new URL("../", import.meta.url).pathname,
  }).output();
  assert.equal(cmd.code, 0, new TextDecoder().decode(cmd.stderr));
  const tensors = parseSafetensors(await Deno.readFile(out));
  assert.deepEqual(tensors.get("emb.weight")!.shape, [96, 32]);
  await Deno.remove(out);
});

Deno.test("a pickle that calls anything but the tensor rebuilders is refused, nothing run", () => {
  // protocol 2: GLOBAL os system, a string argument, TUPLE1, REDUCE, STOP
  const evil = new Uint8Array([
    0x80,
    2,
    ..."cos\nsystem\n".split("").map((c) => c.charCodeAt(0)),
    0x58,
    4,
    0,
    0,
    0,
    ..."true".split("").map((c) => c.charCodeAt(0)),
    0x85,
    0x52,
    0x2e,
  ]);
  assert.throws(() => readStateDictPickle(evil), (err: unknown) => {
    assert.ok(err instanceof ModelLoadError);
    assert.match(err.message, /references os\.system/);
    return true;
  });
  assert.throws(() => readStateDictPickle(new Uint8Array([0x80, 2, 0x69, 0x2e])), /opcode 0x69/);
});
