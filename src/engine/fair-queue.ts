// Fair order of the engine's waiting requests across clients, so one client's single judgement does
// not wait behind another's batch of hundreds (the scheduler admits in order and never overtakes).
// Weighted fair queueing by rows: the next request is the oldest of the client whose rows — running
// now plus those already placed ahead in this order — are fewest per unit of weight; ties go to the
// request that arrived first. Within one client the order stays first come, first served. Pure:
// plain data in, plain data out.

/** Who a request is for, and that client's weight (requests without a client share one). */
export interface FairShare {
  client?: string | undefined;
  /** Positive; 1 when absent. */
  weight?: number | undefined;
}

export interface FairClaim extends FairShare {
  /** Rows (samples) the request holds running, or will hold once admitted. */
  rows: number;
}

const NO_CLIENT = "";

const weightOf = (claim: FairShare) =>
  claim.weight !== undefined && claim.weight > 0 && Number.isFinite(claim.weight) ? claim.weight : 1;

/**
 * `waiting` (in arrival order) reordered fairly, given the running rows (one entry per row, its
 * request's share). Returns the same objects; with one client (or none) it is `waiting`'s own order.
 */
export function fairOrder<T extends FairClaim>(
  waiting: readonly T[],
  runningRows: readonly FairShare[],
): T[] {
  const queues = new Map<string, T[]>();
  for (const claim of waiting) {
    const key = claim.client ?? NO_CLIENT;
    const queue = queues.get(key);
    if (queue) queue.push(claim);
    else queues.set(key, [claim]);
  }
  if (queues.size <= 1) return [...waiting];
  const rows = new Map<string, number>();
  for (const row of runningRows) {
    const key = row.client ?? NO_CLIENT;
    rows.set(key, (rows.get(key) ?? 0) + 1);
  }
  const arrival = new Map<T, number>(waiting.map((claim, k) => [claim, k]));
  const order: T[] = [];
  while (order.length < waiting.length) {
    let best: { key: string; head: T; load: number } | undefined;
    for (const [key, queue] of queues) {
      const head = queue[0];
      if (head === undefined) continue;
      const load = (rows.get(key) ?? 0) / weightOf(head);
      const earlier = (arrival.get(head) ?? 0) < (arrival.get(best?.head as T) ?? Number.POSITIVE_INFINITY);
      if (best === undefined || load < best.load || (load === best.load && earlier))
        best = { key, head, load };
    }
    if (best === undefined) break;
    queues.get(best.key)?.shift();
    rows.set(best.key, (rows.get(best.key) ?? 0) + Math.max(1, best.head.rows));
    order.push(best.head);
  }
  return order;
}
