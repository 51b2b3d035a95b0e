// Pure admission planning for continuous batching: which waiting requests join the running batch at
// the next step boundary. Plain data in, plain data out; no model, so it is tested on its own.

export interface Limits {
  /**
   * KV bytes the running batch may hold at its longest. Rows are left-padded to the batch's longest
   * row (KvBatch), so a batch holds rows × the longest `tokensPerRow` among them, not the sum of each
   * request's own.
   */
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

/** KV bytes of a padded batch of these demands: every row as long as the longest. */
export function batchBytes(demands: readonly Demand[], bytesPerToken: number): number {
  const rows = demands.reduce((sum, d) => sum + d.rows, 0);
  const longest = demands.reduce((most, d) => Math.max(most, d.tokensPerRow), 0);
  return rows * longest * bytesPerToken;
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
  const batch = [...running];
  let rows = running.reduce((sum, d) => sum + d.rows, 0);
  const admit: string[] = [];
  const reject: Plan["reject"] = [];
  for (const demand of waiting) {
    const need = batchBytes([demand], bytesPerToken);
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
    const together = batchBytes([...batch, demand], bytesPerToken);
    if (together > limits.kvBudgetBytes || rows + demand.rows > limits.maxRows) break;
    admit.push(demand.id);
    batch.push(demand);
    rows += demand.rows;
  }
  return { admit, reject };
}
