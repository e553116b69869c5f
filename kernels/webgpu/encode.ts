/**
 * Each op kind's plans: the one place that maps an op of the list to the shaders that run it.
 *
 * @module
 */

import type { Op } from "../ops.ts";
import type { Plan, PlanContext } from "./plan.ts";
import { copyRowsPlan, embedPlan, gatherPlan, scatterPlan, slicePlan } from "./copy.ts";
import { argmaxPlan } from "./argmax.ts";
import { pickPlan } from "./pick.ts";
import { matmulPlan } from "./matmul.ts";
import { normPlan } from "./norm.ts";
import { binaryOpPlan, residualPlan, unaryPlan } from "./elementwise.ts";
import { tokenShiftPlan } from "./token_shift.ts";
import { causalConvPlan } from "./conv.ts";
import { wkv7Plan } from "./wkv7.ts";
import { rwkv7BonusPlan, rwkv7MixPlan, rwkv7ValuePlan } from "./rwkv7.ts";
import { wkv4Plan } from "./wkv4.ts";
import { selectiveScanPlan } from "./mamba.ts";
import { ssdScanPlan, ssdStepPlan } from "./ssd.ts";
import { advancePlan, retnetRotatePlan } from "./retnet.ts";
import { retentionPlan } from "./retention.ts";
import { retentionChunkedPlans } from "./retention_chunked.ts";
import { ssdChunkedPlans } from "./ssd_chunked.ts";
import { CHUNK } from "./chunked.ts";

/** What runs `op` (nothing when it covers no rows); shapes are checked here. */
export function planOp(op: Op, ctx: PlanContext): Plan[] {
  if (op.n === 0) return [];
  if (!Number.isInteger(op.n) || op.n < 0) {
    throw new RangeError(`An op runs a whole number of rows, not ${op.n}`);
  }
  switch (op.op) {
    case "matmul":
      return matmulPlan(op, ctx);
    case "embed":
      return embedPlan(op, ctx);
    case "gather":
      return gatherPlan(op);
    case "scatter":
      return scatterPlan(op);
    case "copyRows":
      return copyRowsPlan(op);
    case "argmax":
      return argmaxPlan(op);
    case "pick":
      return pickPlan(op);
    case "slice":
      return slicePlan(op);
    case "norm":
      return normPlan(op, ctx);
    case "unary":
      return unaryPlan(op, ctx);
    case "binary":
      return binaryOpPlan(op);
    case "residual":
      return residualPlan(op, ctx);
    case "tokenShift":
      return tokenShiftPlan(op);
    case "causalConv":
      return causalConvPlan(op, ctx);
    case "wkv7":
      return wkv7Plan(op);
    case "rwkv7Mix":
      return rwkv7MixPlan(op);
    case "rwkv7Value":
      return rwkv7ValuePlan(op);
    case "rwkv7Bonus":
      return rwkv7BonusPlan(op);
    case "wkv4":
      return wkv4Plan(op);
    case "selectiveScan":
      return selectiveScanPlan(op);
    case "ssdStep":
      return ssdStepPlan(op);
    case "ssdScan":
      return ssdScanPlan(op);
    case "retnetRotate":
      return retnetRotatePlan(op);
    case "advance":
      return advancePlan(op);
    case "retention":
      return retentionPlan(op);
  }
}

/**
 * What runs `op` in its chunked form (chunked.ts), for a step with runs of at least CHUNK tokens:
 * the recurrence for the shorter runs, then the chunked passes for the others; undefined when
 * the op has no such form, or not at this step size.
 */
export function planChunked(op: Op, ctx: PlanContext): Plan[] | undefined {
  if (op.op === "retention") {
    const passes = retentionChunkedPlans(op, ctx);
    return passes && [...retentionPlan(op, CHUNK - 1), ...passes];
  }
  if (op.op === "ssdScan") {
    const passes = ssdChunkedPlans(op, ctx);
    return passes && [...ssdScanPlan(op, CHUNK - 1), ...passes];
  }
  return undefined;
}
