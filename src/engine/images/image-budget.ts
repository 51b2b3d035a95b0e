// A process-wide budget of the bytes images hold before the model has their embeddings: while an
// image is decoded, its full-resolution decode (DECODE_BYTES_PER_PIXEL per pixel) plus its patch
// tensor; after, only the patch tensor, until its holder releases it. Grants are first come, first
// served; a request larger than the whole budget waits until it is alone and then takes all of it,
// so nothing can wait forever behind a budget it can never fit.

export interface BudgetGrant {
  /** Bytes held now (at most the budget's capacity). */
  readonly bytes: number;
  /** Keeps only `bytes` of what is held (never grows), giving the rest back. */
  shrink(bytes: number): void;
  /** Gives everything back; idempotent. */
  release(): void;
}

export class ImageBudget {
  private used = 0;
  private readonly waiters: { bytes: number; grant: () => void }[] = [];

  constructor(readonly capacity: number) {
    if (!(capacity > 0)) throw new RangeError(`ImageBudget: capacity must be positive, got ${capacity}`);
  }

  /** Bytes held now. */
  get inUse(): number {
    return this.used;
  }

  /** Requests waiting for room. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Waits until `bytes` fit (after everyone who asked earlier), takes them, and returns the grant. */
  async acquire(bytes: number): Promise<BudgetGrant> {
    let held = Math.min(Math.max(0, bytes), this.capacity);
    if (this.waiters.length === 0 && this.used + held <= this.capacity) this.used += held;
    else await new Promise<void>((grant) => this.waiters.push({ bytes: held, grant }));
    const give = (amount: number) => {
      held -= amount;
      this.used -= amount;
      this.grantWaiting();
    };
    return {
      get bytes() {
        return held;
      },
      shrink: (bytes) => {
        const keep = Math.min(held, Math.max(0, bytes));
        if (keep < held) give(held - keep);
      },
      release: () => {
        if (held > 0) give(held);
      },
    };
  }

  private grantWaiting(): void {
    for (
      let next = this.waiters[0];
      next && this.used + next.bytes <= this.capacity;
      next = this.waiters[0]
    ) {
      this.waiters.shift();
      this.used += next.bytes;
      next.grant();
    }
  }
}
