/**
 * A pool of workers that run kernel calls on shared WASM memory. The calling
 * thread posts one job (an op and each worker's arguments) through a small
 * shared control block, runs its own share, then waits for the others: no
 * message passing per call, only Atomics.
 *
 * @module
 */

/** Control block layout (Int32 slots). */
export const SEQ = 0, DONE = 1, OP = 2, FAILED = 3, ARGS = 4, ARGS_PER_WORKER = 16;
/**
 * A list job (op LIST) runs up to MAX_CALLS calls in order on each worker: the worker's first
 * argument is its count, and its calls sit in its table after the argument slots, each as the op
 * then CALL_SLOTS - 1 arguments.
 */
export const LIST = 254, MAX_CALLS = 16, CALL_SLOTS = 12;
/** Where worker `index`'s call table starts, of `workers` (Int32 slots). */
export const tableAt = (index: number, workers: number): number =>
  ARGS + ARGS_PER_WORKER * workers + index * MAX_CALLS * CALL_SLOTS;
/** Ops a worker runs. */
export const OPS = [
  "matvec_f32",
  "matvec_f16",
  "matvec_bf16",
  "matmul_f32",
  "matmul_f16",
  "matmul_bf16",
  "wkv7",
  "sum_f32",
  "fma_peak",
  "selective_scan",
  "ssd_scan",
  "retention",
  "wkv4",
  "matmul_q8",
  "matmul_q4",
  "matmul_f32_g8",
  "matmul_f16_g8",
  "matmul_bf16_g8",
] as const;
/** The op that ends a worker. */
export const QUIT = 255;

/** Workers sharing one WASM memory. */
export class ThreadPool {
  readonly #ctrl: Int32Array;
  readonly #args: Uint32Array;
  readonly #workers: Worker[];
  #jobs = 0;

  private constructor(ctrl: SharedArrayBuffer, workers: Worker[]) {
    this.#ctrl = new Int32Array(ctrl);
    this.#args = new Uint32Array(ctrl);
    this.#workers = workers;
  }

  /** Starts `count` workers on `memory`; `stacks[i]` is the top of worker i's 64 KiB stack. */
  static async start(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    stacks: number[],
  ): Promise<ThreadPool> {
    const ctrl = new SharedArrayBuffer(4 * tableAt(stacks.length, stacks.length));
    const workers = await Promise.all(
      stacks.map((stackTop, index) =>
        new Promise<Worker>((resolve, reject) => {
          const w = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
          w.onmessage = () => resolve(w);
          w.onerror = (e) => reject(new Error(`Kernel worker failed to start: ${e.message}`));
          w.postMessage({ module, memory, ctrl, index, workers: stacks.length, stackTop });
        })
      ),
    );
    return new ThreadPool(ctrl, workers);
  }

  /** Number of threads a job runs on, the caller's included. */
  get threads(): number {
    return this.#workers.length + 1;
  }

  /** Runs `op` on every worker with its arguments while the caller runs `own`; returns when all are done. */
  run(op: number, workerArgs: number[][], own: () => void): void {
    workerArgs.forEach((args, i) => this.#args.set(args, ARGS + i * ARGS_PER_WORKER));
    this.#post(op, workerArgs.length, own);
  }

  /**
   * Runs worker i's `calls[i]` (each `[op, ...args]`, at most MAX_CALLS) in order on it while the
   * caller runs `own`; returns when all are done: one hand-off for several calls.
   */
  runList(calls: number[][][], own: () => void): void {
    const n = this.#workers.length;
    calls.forEach((list, i) => {
      if (list.length > MAX_CALLS) throw new RangeError(`A list job holds at most ${MAX_CALLS} calls`);
      this.#args[ARGS + i * ARGS_PER_WORKER] = list.length;
      list.forEach((call, j) => this.#args.set(call, tableAt(i, n) + j * CALL_SLOTS));
    });
    this.#post(LIST, calls.length, own);
  }

  /** Jobs handed to the workers so far (each a wake and a join). */
  get jobs(): number {
    return this.#jobs;
  }

  #post(op: number, workers: number, own: () => void): void {
    const ctrl = this.#ctrl;
    this.#jobs++;
    Atomics.store(ctrl, OP, op);
    Atomics.store(ctrl, DONE, 0);
    Atomics.add(ctrl, SEQ, 1);
    Atomics.notify(ctrl, SEQ);
    own();
    for (let done = Atomics.load(ctrl, DONE); done < workers; done = Atomics.load(ctrl, DONE)) {
      Atomics.wait(ctrl, DONE, done);
    }
    if (Atomics.exchange(ctrl, FAILED, 0)) {
      throw new Error(`Kernel ${op === LIST ? "list" : OPS[op]} failed on a worker thread`);
    }
  }

  /** Stops the workers. */
  close(): void {
    Atomics.store(this.#ctrl, OP, QUIT);
    Atomics.add(this.#ctrl, SEQ, 1);
    Atomics.notify(this.#ctrl, SEQ);
    for (const w of this.#workers) w.terminate();
  }
}
