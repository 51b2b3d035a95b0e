// Admission: a bounded count of judgements held (running or waiting in the engine), refused at once
// with 429 past it. A request takes the slots it could use at once — one per item or comparison —
// but never more than are free, so a batch larger than the queue is served through fewer slots
// instead of being refused forever.

import { ApiError } from "../errors.js";

export class Admission {
  private held = 0;

  constructor(
    private readonly limit: number,
    private readonly onChange: (held: number) => void = () => {},
  ) {}

  get depth(): number {
    return this.held;
  }

  /** Up to `wanted` slots (as many as are free); none free → 429. `wanted` 0 takes none. */
  admit(wanted: number): Slots {
    if (wanted <= 0) return new Slots(0, () => {});
    const free = this.limit - this.held;
    if (free <= 0) {
      throw new ApiError(
        "queue_full",
        `the server holds ${this.held} judgements; the limit is ${this.limit}`,
        {
          retryAfter: 1,
        },
      );
    }
    const count = Math.min(wanted, free);
    this.held += count;
    this.onChange(this.held);
    return new Slots(count, () => {
      this.held -= count;
      this.onChange(this.held);
    });
  }
}

/** A request's slots: `run` starts a judgement when one of them is free. */
export class Slots {
  private busy = 0;
  private readonly waiting: (() => void)[] = [];
  private released = false;

  constructor(
    readonly count: number,
    private readonly giveBack: () => void,
  ) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.busy >= this.count) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.busy++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.busy--;
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.giveBack();
  }
}
