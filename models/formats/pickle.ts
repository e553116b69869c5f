/**
 * A pickle reader for exactly what a PyTorch state dict holds: dicts, lists,
 * tuples, strings, numbers, and tensors rebuilt from storages. It interprets
 * the opcodes as data and never calls anything: a global outside a short
 * allow-list (OrderedDict, torch's tensor rebuild functions and storage
 * types) is refused, as is every opcode not listed here.
 *
 * @module
 */

import { ModelLoadError } from "../errors.ts";

/** A reference to one storage of the archive, as torch's persistent id names it. */
export interface StorageRef {
  readonly kind: "storage";
  readonly dtype: "f32" | "f16" | "bf16";
  /** Entry name under `data/`. */
  readonly key: string;
  readonly numel: number;
}

/** A tensor as the pickle describes it: a view into a storage. */
export interface TensorRef {
  readonly kind: "tensor";
  readonly storage: StorageRef;
  /** Offset into the storage, in elements. */
  readonly offset: number;
  readonly shape: number[];
  readonly stride: number[];
}

type Value =
  | null
  | boolean
  | number
  | string
  | Value[]
  | { kind: "tuple"; items: Value[] }
  | { kind: "global"; name: string }
  | { kind: "dict"; map: Map<Value, Value> }
  | StorageRef
  | TensorRef;

const STORAGES: Record<string, StorageRef["dtype"]> = {
  "torch.FloatStorage": "f32",
  "torch.HalfStorage": "f16",
  "torch.BFloat16Storage": "bf16",
};
const GLOBALS = new Set([
  "collections.OrderedDict",
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_parameter",
  ...Object.keys(STORAGES),
]);
const MARK = Symbol("mark");

/** Reads a torch state-dict pickle into a map of tensor name → tensor reference. */
export function readStateDictPickle(bytes: Uint8Array): Map<string, TensorRef> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: (Value | typeof MARK)[] = [];
  const memo = new Map<number, Value>();
  const dec = new TextDecoder();
  let i = 0;
  const refuse = (what: string): never => {
    throw new ModelLoadError(`Refusing to load this .pth: ${what} (only plain tensor state dicts are read)`);
  };
  const pop = (): Value => {
    const v = stack.pop();
    if (v === undefined || v === MARK) return refuse(`malformed pickle at byte ${i}`);
    return v;
  };
  const popMark = (): Value[] => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) return refuse(`missing MARK at byte ${i}`);
    const items = stack.splice(at) as Value[];
    return items.slice(1);
  };
  const line = () => {
    const end = bytes.indexOf(10, i);
    const s = dec.decode(bytes.subarray(i, end));
    i = end + 1;
    return s;
  };
  const u8 = () => bytes[i++];
  const u32 = () => {
    const v = view.getUint32(i, true);
    i += 4;
    return v;
  };
  const str = (n: number) => {
    const s = dec.decode(bytes.subarray(i, i + n));
    i += n;
    return s;
  };
  const setItems = (dict: Value, items: Value[]) => {
    if (typeof dict !== "object" || dict === null || !("kind" in dict) || dict.kind !== "dict") {
      return refuse("SETITEMS on something that is not a dict");
    }
    for (let k = 0; k + 1 < items.length; k += 2) dict.map.set(items[k], items[k + 1]);
  };

  while (i < bytes.length) {
    const op = bytes[i++];
    switch (op) {
      case 0x80: // PROTO
        i++;
        break;
      case 0x95: // FRAME
        i += 8;
        break;
      case 0x7d: // EMPTY_DICT
        stack.push({ kind: "dict", map: new Map() });
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push({ kind: "tuple", items: [] });
        break;
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x71: // BINPUT
        memo.set(u8(), stack.at(-1) as Value);
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), stack.at(-1) as Value);
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, stack.at(-1) as Value);
        break;
      case 0x68: // BINGET
        stack.push(memo.get(u8()) ?? refuse("BINGET of an unknown memo slot"));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memo.get(u32()) ?? refuse("LONG_BINGET of an unknown memo slot"));
        break;
      case 0x58: // BINUNICODE
        stack.push(str(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(u8()));
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(view.getUint16(i, true));
        i += 2;
        break;
      case 0x4a: // BININT
        stack.push(view.getInt32(i, true));
        i += 4;
        break;
      case 0x8a: { // LONG1
        const n = u8();
        let v = 0n;
        for (let k = n - 1; k >= 0; k--) v = (v << 8n) | BigInt(bytes[i + k]);
        if (n > 0 && bytes[i + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        i += n;
        stack.push(Number(v));
        break;
      }
      case 0x47: // BINFLOAT
        stack.push(view.getFloat64(i, false));
        i += 8;
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x74: // TUPLE
        stack.push({ kind: "tuple", items: popMark() });
        break;
      case 0x85: // TUPLE1
        stack.push({ kind: "tuple", items: [pop()] });
        break;
      case 0x86: { // TUPLE2
        const b = pop(), a = pop();
        stack.push({ kind: "tuple", items: [a, b] });
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop(), b = pop(), a = pop();
        stack.push({ kind: "tuple", items: [a, b, c] });
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        (stack.at(-1) as Value[]).push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        (stack.at(-1) as Value[]).push(...items);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop(), k = pop();
        setItems(stack.at(-1) as Value, [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(stack.at(-1) as Value, items);
        break;
      }
      case 0x63: { // GLOBAL
        const name = `${line()}.${line()}`;
        if (!GLOBALS.has(name)) refuse(`it references ${name}`);
        stack.push({ kind: "global", name });
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        const full = `${module}.${name}`;
        if (!GLOBALS.has(full)) refuse(`it references ${full}`);
        stack.push({ kind: "global", name: full });
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        stack.push(storageRef(pid, refuse));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop(), fn = pop();
        stack.push(reduce(fn, args, refuse));
        break;
      }
      case 0x62: { // BUILD: state for an OrderedDict or a parameter; nothing a state dict needs.
        pop();
        break;
      }
      case 0x2e: { // STOP
        return stateDict(pop(), refuse);
      }
      default:
        refuse(`pickle opcode 0x${op.toString(16)} at byte ${i - 1}`);
    }
  }
  return refuse("the pickle has no STOP opcode");
}

function storageRef(pid: Value, refuse: (w: string) => never): StorageRef {
  const items = typeof pid === "object" && pid !== null && "kind" in pid && pid.kind === "tuple"
    ? pid.items
    : [];
  const [tag, type, key, , numel] = items;
  if (
    tag !== "storage" || typeof type !== "object" || type === null || !("kind" in type) ||
    type.kind !== "global"
  ) {
    return refuse("a persistent id that is not a torch storage");
  }
  const dtype = STORAGES[type.name];
  if (!dtype) return refuse(`storage type ${type.name} (only float, half and bfloat16 weights are read)`);
  return { kind: "storage", dtype, key: String(key), numel: Number(numel) };
}

function reduce(fn: Value, args: Value, refuse: (w: string) => never): Value {
  if (typeof fn !== "object" || fn === null || !("kind" in fn) || fn.kind !== "global") {
    return refuse("REDUCE of something that is not an allowed global");
  }
  const a = typeof args === "object" && args !== null && "kind" in args && args.kind === "tuple"
    ? args.items
    : [];
  if (fn.name === "collections.OrderedDict") return { kind: "dict", map: new Map() };
  if (fn.name === "torch._utils._rebuild_parameter") return a[0];
  if (fn.name === "torch._utils._rebuild_tensor_v2") {
    const [storage, offset, size, stride] = a;
    const tuple = (v: Value) =>
      typeof v === "object" && v !== null && "kind" in v && v.kind === "tuple" ? v.items.map(Number) : [];
    if (
      typeof storage !== "object" || storage === null || !("kind" in storage) || storage.kind !== "storage"
    ) {
      return refuse("a tensor without a storage");
    }
    return { kind: "tensor", storage, offset: Number(offset), shape: tuple(size), stride: tuple(stride) };
  }
  return refuse(`a call to ${fn.name}`);
}

function stateDict(root: Value, refuse: (w: string) => never): Map<string, TensorRef> {
  if (typeof root !== "object" || root === null || !("kind" in root) || root.kind !== "dict") {
    return refuse("the pickle's root is not a dict");
  }
  const out = new Map<string, TensorRef>();
  for (const [k, v] of root.map) {
    if (typeof k !== "string") refuse("a state-dict key that is not a string");
    if (typeof v !== "object" || v === null || !("kind" in v) || v.kind !== "tensor") {
      refuse(`entry "${k}" is not a tensor`);
    }
    out.set(k as string, v as TensorRef);
  }
  return out;
}
