// A kernel worker: instantiates the shared-memory kernel module on the pool's memory, with its
// own stack, then runs the jobs the pool posts until told to quit (see pool.ts).
import {
  ARGS,
  ARGS_PER_WORKER,
  CALL_SLOTS,
  DONE,
  FAILED,
  LIST,
  MAX_CALLS,
  OP,
  OPS,
  QUIT,
  SEQ,
  tableAt,
} from "./pool.ts";

interface Setup {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctrl: SharedArrayBuffer;
  index: number;
  /** Workers in the pool. */
  workers: number;
  stackTop: number;
}

self.onmessage = async (e: MessageEvent<Setup>) => {
  const { module, memory, ctrl, index, workers, stackTop } = e.data;
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  (instance.exports.__stack_pointer as WebAssembly.Global).value = stackTop;
  const fns = OPS.map((name) => instance.exports[name] as (...args: number[]) => void);
  const c = new Int32Array(ctrl);
  const args = new Uint32Array(ctrl, 4 * (ARGS + index * ARGS_PER_WORKER), ARGS_PER_WORKER);
  const table = new Uint32Array(ctrl, 4 * tableAt(index, workers), MAX_CALLS * CALL_SLOTS);
  // A list job: its calls in order (pool.ts, runList).
  const runList = () => {
    for (let j = 0; j < args[0]; j++) {
      const call = table.subarray(j * CALL_SLOTS, (j + 1) * CALL_SLOTS);
      fns[call[0]](...call.subarray(1));
    }
  };
  let seen = Atomics.load(c, SEQ); // before "ready": a job posted right after must not be missed
  self.postMessage("ready");
  while (true) {
    Atomics.wait(c, SEQ, seen);
    seen = Atomics.load(c, SEQ);
    const op = Atomics.load(c, OP);
    if (op === QUIT) break;
    try {
      if (op === LIST) runList();
      else fns[op](...args);
    } catch (err) {
      console.error(`kernel worker ${index}: ${op === LIST ? "list" : OPS[op]} failed:`, err);
      Atomics.store(c, FAILED, 1);
    }
    Atomics.add(c, DONE, 1);
    Atomics.notify(c, DONE);
  }
  self.close();
};
