// Admission: a bounded count of judgements held (running or waiting in the engine), refused at once
// with 429 past it, and shared fairly across clients.
//
// The rule (docs/reliability.md, "Fair shares"): a client is active while it holds slots and for
// `idleMs` after its last request. Each active client's share is limit × weight / (sum of the active
// clients' weights), at least 1. A request takes what it could use at once (one slot per item or
// comparison) but at most its allowance: the free slots less those reserved for the other active
// clients (each one's share minus what it holds), or — whichever is more — what is left of its own
// share. So idle capacity is used (alone, a batch may take every slot), yet a batch never takes the
// slots another active client is entitled to, and a client under its share is never refused while
// a slot is free. A batch holds its slots per judgement: as each finishes it gives the slot back and
// takes again only what its allowance then says (at least one, so it always progresses), so a batch
// that filled the queue before another client showed up shrinks to its share as it runs.

import { ApiError } from "../errors.js";

/** Why a request got 429: no slot free at all, or the free ones are other clients' shares. */
export type RefusalReason = "queue_full" | "share_exceeded";

export interface AdmissionOptions {
  limit: number;
  /** A client's weight (1 when not configured). */
  weightOf?: (client: string) => number;
  /** How long a client that holds nothing keeps its share reserved after its last request. */
  idleMs?: number;
  /** Milliseconds, for `idleMs` (the system clock in production; tests pass their own). */
  now?: () => number;
  /** The number of slots held, after every change. */
  onChange?: (held: number) => void;
  onRefuse?: (reason: RefusalReason) => void;
}

/** Who a request is for: judgements without one (the CLI) share the anonymous client. */
export const ANONYMOUS = "anonymous";

interface ClientState {
  held: number;
  lastSeen: number;
  weight: number;
}

export class Admission {
  private held = 0;
  private readonly clients = new Map<string, ClientState>();
  private readonly limit: number;
  private readonly weightOf: (client: string) => number;
  private readonly idleMs: number;
  private readonly now: () => number;
  private readonly onChange: (held: number) => void;
  private readonly onRefuse: (reason: RefusalReason) => void;

  constructor(options: AdmissionOptions) {
    this.limit = options.limit;
    this.weightOf = options.weightOf ?? (() => 1);
    this.idleMs = options.idleMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.onChange = options.onChange ?? (() => {});
    this.onRefuse = options.onRefuse ?? (() => {});
  }

  get depth(): number {
    return this.held;
  }

  /** Slots `client` holds now (for tests and diagnostics). */
  heldBy(client: string): number {
    return this.clients.get(client)?.held ?? 0;
  }

  /** The slots `client` is entitled to among the clients active now. */
  shareOf(client: string): number {
    this.touch(client, false);
    return this.share(client, this.activeWeight());
  }

  /**
   * Up to `wanted` slots (as many as the client's allowance); none → 429, with reason
   * `share_exceeded` when slots are free but reserved for other clients. `wanted` 0 takes none.
   */
  admit(client: string, wanted: number): Slots {
    this.touch(client, true);
    if (wanted <= 0) return new Slots(this, client, 0);
    const count = Math.min(wanted, this.allowance(client));
    if (count <= 0) {
      const free = this.limit - this.held;
      const reason: RefusalReason = free > 0 ? "share_exceeded" : "queue_full";
      this.onRefuse(reason);
      throw new ApiError(
        "queue_full",
        reason === "queue_full"
          ? `the server holds ${this.held} judgements; the limit is ${this.limit}`
          : `this client holds ${this.heldBy(client)} judgements, its share of the queue; ` +
              `the ${free} free slots are other clients' shares`,
        { retryAfter: 1 },
      );
    }
    this.take(client, count);
    return new Slots(this, client, count);
  }

  /** How many more slots `client` may take now (see the rule at the top). */
  allowance(client: string): number {
    const free = this.limit - this.held;
    if (free <= 0) return 0;
    const total = this.activeWeight();
    let reserved = 0;
    for (const [other, state] of this.clients) {
      if (other !== client && this.isActive(state))
        reserved += Math.max(0, this.share(other, total) - state.held);
    }
    const own = this.share(client, total) - this.heldBy(client);
    return Math.min(free, Math.max(own, free - reserved));
  }

  /** @internal Slots use these to take and give back one request's slots. */
  take(client: string, count: number): void {
    if (count <= 0) return;
    const state = this.touch(client, false);
    state.held += count;
    this.held += count;
    this.onChange(this.held);
  }

  /** @internal */
  giveBack(client: string, count: number): void {
    if (count <= 0) return;
    const state = this.clients.get(client);
    if (state) {
      state.held -= count;
      // A client's share stays reserved for `idleMs` after it last held or asked for slots.
      state.lastSeen = this.now();
    }
    this.held -= count;
    this.onChange(this.held);
  }

  private touch(client: string, seen: boolean): ClientState {
    let state = this.clients.get(client);
    if (!state) {
      this.forgetIdle();
      state = { held: 0, lastSeen: this.now(), weight: this.weightOf(client) };
      this.clients.set(client, state);
    } else if (seen) state.lastSeen = this.now();
    return state;
  }

  private isActive(state: ClientState): boolean {
    return state.held > 0 || this.now() - state.lastSeen < this.idleMs;
  }

  private activeWeight(): number {
    let total = 0;
    for (const state of this.clients.values()) if (this.isActive(state)) total += state.weight;
    return total;
  }

  private share(client: string, totalWeight: number): number {
    const weight = this.clients.get(client)?.weight ?? this.weightOf(client);
    return Math.max(1, Math.floor((this.limit * weight) / Math.max(totalWeight, weight)));
  }

  /** Clients that neither hold slots nor asked recently are forgotten: the map stays small. */
  private forgetIdle(): void {
    for (const [client, state] of this.clients) if (!this.isActive(state)) this.clients.delete(client);
  }
}

/**
 * A request's slots: `run` starts a judgement when one of them is free. A finished judgement's slot
 * goes back to admission and is taken again only within the client's allowance (at least one is
 * kept while work waits, so the request always progresses); unused slots go back at once.
 */
export class Slots {
  private busy = 0;
  private readonly waiting: (() => void)[] = [];
  private released = false;

  constructor(
    private readonly admission: Admission,
    private readonly client: string,
    private held: number,
  ) {}

  /** Slots this request holds now. */
  get count(): number {
    return this.held;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.released || this.busy < this.held) this.busy++;
    else if (this.grow(1) === 1) this.busy++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await work();
    } finally {
      this.finished();
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.admission.giveBack(this.client, this.held);
    this.held = 0;
  }

  /** One judgement ended: its slot is handed on within the allowance, or given back. */
  private finished(): void {
    if (this.released) {
      const next = this.waiting.shift();
      if (next) next();
      else this.busy--;
      return;
    }
    this.busy--;
    // Give back every slot not running a judgement, then take again what the allowance gives.
    this.admission.giveBack(this.client, this.held - this.busy);
    this.held = this.busy;
    const wanted = this.waiting.length;
    if (wanted === 0) {
      // Kept while the request lasts (a ranking's next round runs through it without asking).
      if (this.held === 0) {
        this.admission.take(this.client, 1);
        this.held = 1;
      }
      return;
    }
    let got = this.grow(wanted);
    if (this.busy === 0 && got === 0) {
      // The one slot just given back: a request with work waiting always progresses.
      this.admission.take(this.client, 1);
      this.held += 1;
      got = 1;
    }
    for (let i = 0; i < got; i++) {
      this.busy++;
      this.waiting.shift()?.();
    }
  }

  private grow(wanted: number): number {
    const got = Math.min(wanted, this.admission.allowance(this.client));
    if (got <= 0) return 0;
    this.admission.take(this.client, got);
    this.held += got;
    return got;
  }
}
