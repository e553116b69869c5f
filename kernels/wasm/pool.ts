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
    const ctrl = new SharedArrayBuffer(4 * (ARGS + ARGS_PER_WORKER * stacks.length));
    const workers = await Promise.all(
      stacks.map((stackTop, index) =>
        new Promise<Worker>((resolve, reject) => {
          const w = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
          w.onmessage = () => resolve(w);
          w.onerror = (e) => reject(new Error(`Kernel worker failed to start: ${e.message}`));
          w.postMessage({ module, memory, ctrl, index, stackTop });
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
    const ctrl = this.#ctrl;
    workerArgs.forEach((args, i) => this.#args.set(args, ARGS + i * ARGS_PER_WORKER));
    Atomics.store(ctrl, OP, op);
    Atomics.store(ctrl, DONE, 0);
    Atomics.add(ctrl, SEQ, 1);
    Atomics.notify(ctrl, SEQ);
    own();
    const n = workerArgs.length;
    for (let done = Atomics.load(ctrl, DONE); done < n; done = Atomics.load(ctrl, DONE)) {
      Atomics.wait(ctrl, DONE, done);
    }
    if (Atomics.exchange(ctrl, FAILED, 0)) throw new Error(`Kernel ${OPS[op]} failed on a worker thread`);
  }

  /** Stops the workers. */
  close(): void {
    Atomics.store(this.#ctrl, OP, QUIT);
    Atomics.add(this.#ctrl, SEQ, 1);
    Atomics.notify(this.#ctrl, SEQ);
    for (const w of this.#workers) w.terminate();
  }
}
