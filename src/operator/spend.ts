import type { BurstPoolSpec } from "../api/burst-pool.js";
import { ModelConditionReason } from "../api/conditions.js";
import type { InferenceModel } from "../api/inference-model.js";
import { parseQuantity } from "../api/quantity.js";
import { podRequests } from "./plan.js";
import { capacityOf } from "./pools/decide.js";

/**
 * How many burst replicas a model may have: `replicas.burst.max`, bounded by its spend cap. The cap is
 * read strictly: the model may use as many whole nodes of a pool as `maxSpotHourlyUsd` pays for, each
 * holding as many replicas as fit, and the bound is the smallest over the model's pools, since the
 * scheduler may put the replicas on any of them. So a model alone on its nodes never costs more than
 * its cap.
 */
export interface BurstLimit {
  limit: number;
  /** Why the limit is below burst.max. */
  reason?: typeof ModelConditionReason.SpendCapReached | typeof ModelConditionReason.NoBurstPool;
  message?: string;
}

export function burstLimit(model: InferenceModel, pools: ReadonlyMap<string, BurstPoolSpec>): BurstLimit {
  const { max, pools: names } = model.spec.replicas.burst;
  if (max === 0) return { limit: 0 };
  const known = names.flatMap((n) => {
    const spec = pools.get(n);
    return spec ? [spec] : [];
  });
  if (!known.length)
    return {
      limit: 0,
      reason: ModelConditionReason.NoBurstPool,
      message: `no BurstPool named ${names.join(", ")} exists`,
    };
  const cap = model.spec.budget.maxSpotHourlyUsd;
  if (cap === undefined) return { limit: max };

  const requests = podRequests(model);
  const cpu = parseQuantity(requests.cpu) ?? 0;
  const memory = parseQuantity(requests.memory) ?? 0;
  const affordable = known.map((spec) => {
    const node = capacityOf(spec);
    const perNode = Math.floor(
      Math.min(cpu > 0 ? node.cpu / cpu : Infinity, memory > 0 ? node.memory / memory : Infinity),
    );
    const nodes = spec.hourlyPriceUsd > 0 ? Math.floor(cap / spec.hourlyPriceUsd + 1e-9) : Infinity;
    return nodes * Math.min(perNode, max);
  });
  const limit = Math.min(max, ...affordable);
  return limit < max
    ? {
        limit,
        reason: ModelConditionReason.SpendCapReached,
        message: `budget.maxSpotHourlyUsd ${cap} pays for ${limit} of ${max} burst replicas`,
      }
    : { limit };
}
