/**
 * The GPU's copy bandwidth, measured: the yardstick decode on WebGPU is held against (decode reads
 * its weights once per step, so it cannot beat the rate the GPU moves memory at).
 *
 * @module
 */

import { requestGpuDevice } from "./device.ts";

/** What {@linkcode measureWebGpuCopyBandwidth} found. */
export interface CopyBandwidth {
  /** Bytes read plus bytes written per second by buffer-to-buffer copies (twice the bytes copied). */
  readonly bytesPerSecond: number;
  /** Bytes per copy (smaller than asked for where the adapter's largest buffer is). */
  readonly bytes: number;
  /** The adapter's own description of itself. */
  readonly adapter: string;
}

/**
 * The best of `repeats` timings of `copies` buffer-to-buffer copies of `bytes` bytes in one
 * submission (timed from submit to the queue reporting the work done, after one warm-up copy).
 */
export async function measureWebGpuCopyBandwidth(
  options: { bytes?: number; copies?: number; repeats?: number } = {},
): Promise<CopyBandwidth> {
  const device = await requestGpuDevice();
  try {
    const bytes = Math.floor(Math.min(options.bytes ?? 256 << 20, device.limits.maxBufferSize) / 4) * 4;
    const copies = options.copies ?? 8, repeats = options.repeats ?? 3;
    const usage = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const a = device.createBuffer({ label: "copy probe a", size: bytes, usage });
    const b = device.createBuffer({ label: "copy probe b", size: bytes, usage });
    const run = async (n: number) => {
      const encoder = device.createCommandEncoder();
      for (let i = 0; i < n; i++) {
        encoder.copyBufferToBuffer(i % 2 ? b : a, 0, i % 2 ? a : b, 0, bytes);
      }
      const t0 = performance.now();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      return (performance.now() - t0) / 1000;
    };
    await run(1);
    let best = Infinity;
    for (let r = 0; r < repeats; r++) best = Math.min(best, await run(copies));
    const info = device.adapterInfo;
    return {
      bytesPerSecond: (2 * bytes * copies) / best,
      bytes,
      adapter: info?.description || info?.device || info?.vendor || "unnamed adapter",
    };
  } finally {
    device.destroy();
  }
}
