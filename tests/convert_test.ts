// deno task convert: a real torch.save archive becomes the same safetensors the fixture
// generator wrote; pickles that do more than describe tensors are refused.
import assert from "node:assert/strict";
import { readStateDictPickle } from "../models/formats/pickle.ts";
import { listPth, readPth } from "../models/formats/pth.ts";
import { ModelLoadError, parseSafetensors } from "../models/mod.ts";
import { openFileSource } from "../cli/file_source.ts";
import { type PthStorage, writePth } from "./helpers/pth_writer.ts";

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

Deno.test("strided and offset views are gathered in row-major order, from memory and from a file", async () => {
  const values = Float32Array.from({ length: 12 }, (_, i) => i); // a [3][4] storage
  const storages = new Map<string, PthStorage>([["0", {
    dtype: "f32",
    bytes: new Uint8Array(values.buffer),
  }]]);
  const views = [
    { name: "whole", key: "0", offset: 0, shape: [3, 4], stride: [4, 1] },
    { name: "transposed", key: "0", offset: 0, shape: [4, 3], stride: [1, 4] },
    { name: "row1", key: "0", offset: 4, shape: [4], stride: [1] },
    { name: "column2", key: "0", offset: 2, shape: [3], stride: [4] },
    { name: "empty", key: "0", offset: 0, shape: [0, 4], stride: [4, 1] },
  ];
  const path = await Deno.makeTempFile({ suffix: ".pth" });
  await writePth(path, views, storages);
  const expected: Record<string, number[]> = {
    whole: [...values],
    transposed: [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11],
    row1: [4, 5, 6, 7],
    column2: [2, 6, 10],
    empty: [],
  };
  const fromMemory = readPth(await Deno.readFile(path));
  using source = openFileSource(path);
  const fromFile = listPth(source).map((t) => ({ ...t, bytes: t.read() }));
  for (const tensors of [fromMemory, fromFile]) {
    assert.deepEqual(tensors.map((t) => t.name), views.map((v) => v.name));
    for (const t of tensors) {
      const f32 = new Float32Array(t.bytes.slice().buffer);
      assert.deepEqual([...f32], expected[t.name], t.name);
    }
  }
  await Deno.remove(path);
});

Deno.test("a view reaching past its storage is refused before anything is read", async () => {
  const storages = new Map<string, PthStorage>([["0", { dtype: "f16", bytes: new Uint8Array(8) }]]);
  const path = await Deno.makeTempFile({ suffix: ".pth" });
  await writePth(path, [{ name: "w", key: "0", offset: 1, shape: [2, 2], stride: [2, 1] }], storages);
  using source = openFileSource(path);
  assert.throws(() => listPth(source, "bad.pth"), (err: unknown) => {
    assert.ok(err instanceof ModelLoadError);
    assert.match(err.message, /bad\.pth: tensor "w" reads past the end of its storage/);
    return true;
  });
  await Deno.remove(path);
});

// The checkpoint is streamed: one tensor in memory at a time. GNU time reports the converter's
// peak resident memory (Debian's `time` package; CI installs it).
const GNU_TIME = "/usr/bin/time";
const hasGnuTime = await Deno.stat(GNU_TIME).then(() => true, () => false);
Deno.test({
  name:
    "convert streams a 128 MB checkpoint: peak memory stays under 1.2x the output, and the output is exact",
  ignore: !hasGnuTime,
  async fn() {
    const dir = await Deno.makeTempDir();
    const storages = new Map<string, PthStorage>();
    const views = [];
    for (let i = 0; i < 16; i++) {
      const words = new Uint32Array(2048 * 1024); // an f16 [2048][2048]: 8 MiB
      for (let j = 0; j < words.length; j++) words[j] = Math.imul(j + 1, 2654435761 + i);
      storages.set(String(i), { dtype: "f16", bytes: new Uint8Array(words.buffer) });
      views.push({
        name: `blocks.${i}.weight`,
        key: String(i),
        offset: 0,
        shape: [2048, 2048],
        stride: [2048, 1],
      });
    }
    await writePth(`${dir}/big.pth`, views, storages);
    const out = await new Deno.Command(GNU_TIME, {
      args: [
        "-f",
        "peak %M KB",
        Deno.execPath(),
        "run",
        "--allow-read",
        "--allow-write",
        "cli/convert.ts",
        `${dir}/big.pth`,
        `${dir}/out/model.safetensors`,
      ],
      cwd: new URL("../", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const written = await Deno.readFile(`${dir}/out/model.safetensors`);
    const peak = Number(stderr.match(/peak (\d+) KB/)![1]) * 1024;
    assert.ok(
      peak <= 1.2 * written.length,
      `peak ${(peak / 1e6).toFixed(0)} MB for ${(written.length / 1e6).toFixed(0)} MB written`,
    );
    const tensors = parseSafetensors(written);
    for (const v of views) assert.deepEqual(tensors.get(v.name)!.bytes, storages.get(v.key)!.bytes, v.name);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(`${dir}/out`))).map((e) => e.name), [
      "model.safetensors",
    ]);
    await Deno.remove(dir, { recursive: true });
  },
});
