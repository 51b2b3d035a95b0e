// Pure admission planning for continuous batching: which waiting requests join the running batch at
// the next step boundary. Plain data in, plain data out; no model, so it is tested on its own.

export interface Limits {
  /** KV bytes the running batch may hold at its longest (every sample's `tokensPerRow`). */
  kvBudgetBytes: number;
  /** Rows (samples) decoded together at most. */
  maxRows: number;
}

export interface Demand {
  id: string;
  rows: number;
  /** Columns each row's cache may hold by the end: prompt + max new tokens + its buffer's spare room. */
  tokensPerRow: number;
}

export interface Plan {
  admit: string[];
  /** Requests that can never fit, even into an empty batch. */
  reject: { id: string; reason: string }[];
}

export function demandBytes(demand: Demand, bytesPerToken: number): number {
  return demand.rows * demand.tokensPerRow * bytesPerToken;
}

/**
 * First come, first served: admit waiting requests in order while the budget holds; stop at the first
 * that does not fit (no overtaking, so a large request is not starved by small ones).
 */
export function planAdmission(
  running: readonly Demand[],
  waiting: readonly Demand[],
  limits: Limits,
  bytesPerToken: number,
): Plan {
  let bytes = running.reduce((sum, d) => sum + demandBytes(d, bytesPerToken), 0);
  let rows = running.reduce((sum, d) => sum + d.rows, 0);
  const admit: string[] = [];
  const reject: Plan["reject"] = [];
  for (const demand of waiting) {
    const need = demandBytes(demand, bytesPerToken);
    if (need > limits.kvBudgetBytes || demand.rows > limits.maxRows) {
      reject.push({
        id: demand.id,
        reason:
          demand.rows > limits.maxRows
            ? `${demand.rows} samples exceed the batch limit of ${limits.maxRows} rows`
            : `needs ${need} KV bytes, over the budget of ${limits.kvBudgetBytes}`,
      });
      continue;
    }
    if (bytes + need > limits.kvBudgetBytes || rows + demand.rows > limits.maxRows) break;
    admit.push(demand.id);
    bytes += need;
    rows += demand.rows;
  }
  return { admit, reject };
}
