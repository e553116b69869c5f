import type {
  RetentionIo,
  RetentionShape,
  SelectiveScanIo,
  SelectiveScanShape,
  SsdScanIo,
  SsdScanShape,
  Wkv4Io,
  Wkv4State,
} from "../types.ts";

/** Mamba's selective scan (see Backend.selectiveScan), plainly. */
export function referenceSelectiveScan(
  state: Float32Array,
  io: SelectiveScanIo,
  shape: SelectiveScanShape,
): void {
  const { tokens, channels: I, stateSize: N } = shape;
  for (let t = 0; t < tokens; t++) {
    for (let c = 0; c < I; c++) {
      const o = t * I + c, dt = io.dt[o], x = io.x[o];
      let acc = 0;
      for (let j = 0; j < N; j++) {
        const h = Math.exp(io.a[c * N + j] * dt) * state[c * N + j] + dt * x * io.b[t * N + j];
        state[c * N + j] = h;
        acc += h * io.c[t * N + j];
      }
      const z = io.z[o];
      io.y[o] = (acc + io.d[c] * x) * (z / (1 + Math.exp(-z)));
    }
  }
}

/** Mamba-2's SSD recurrence (see Backend.ssdScan), plainly. */
export function referenceSsdScan(state: Float32Array, io: SsdScanIo, shape: SsdScanShape): void {
  const { tokens, heads: H, headDim: P, stateSize: N, groups: G } = shape;
  const perGroup = H / G;
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / perGroup), dt = io.dt[t * H + h], dA = io.dA[t * H + h];
      const bo = (t * G + g) * N;
      for (let p = 0; p < P; p++) {
        const o = t * H * P + h * P + p, x = io.x[o], s = (h * P + p) * N;
        let acc = 0;
        for (let j = 0; j < N; j++) {
          const v = state[s + j] * dA + dt * x * io.b[bo + j];
          state[s + j] = v;
          acc += v * io.c[bo + j];
        }
        io.y[o] = acc + io.d[h] * x;
      }
    }
  }
}

/** RetNet's recurrent retention (see Backend.retention), plainly. */
export function referenceRetention(kv: Float32Array, io: RetentionIo, shape: RetentionShape): void {
  const { tokens, heads: H, keyDim: DK, valueDim: DV } = shape;
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < H; h++) {
      const keep = io.keep[t * H + h], add = io.add[t * H + h];
      const qo = (t * H + h) * DK, vo = (t * H + h) * DV;
      for (let a = 0; a < DV; a++) {
        const row = (h * DV + a) * DK, va = io.v[vo + a] * add;
        let acc = 0;
        for (let j = 0; j < DK; j++) {
          const r = kv[row + j] * keep + io.k[qo + j] * va;
          kv[row + j] = r;
          acc += io.q[qo + j] * r;
        }
        io.o[vo + a] = acc;
      }
    }
  }
}

/** RWKV-4's WKV (see Backend.wkv4), plainly. */
export function referenceWkv4(
  state: Wkv4State,
  io: Wkv4Io,
  shape: { tokens: number; channels: number },
): void {
  const { tokens, channels: A } = shape;
  for (let c = 0; c < A; c++) {
    let num = state.num[c], den = state.den[c], max = state.max[c];
    const u = io.u[c], w = io.w[c];
    for (let t = 0; t < tokens; t++) {
      const k = io.k[t * A + c], v = io.v[t * A + c];
      let m = Math.max(max, k + u);
      let e1 = Math.exp(max - m), e2 = Math.exp(k + u - m);
      io.out[t * A + c] = (e1 * num + e2 * v) / (e1 * den + e2);
      m = Math.max(max + w, k);
      e1 = Math.exp(max + w - m);
      e2 = Math.exp(k - m);
      num = e1 * num + e2 * v;
      den = e1 * den + e2;
      max = m;
    }
    state.num[c] = num;
    state.den[c] = den;
    state.max[c] = max;
  }
}
