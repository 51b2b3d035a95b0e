// A process-wide budget of full-resolution pixels being decoded at once. A decoded image costs
// about 10 bytes per pixel until it is resized to the model's size (sharp's output, the RGB copy and
// the first resize pass), so this bounds image memory however many requests arrive together.
// Waiters are served first come, first served.

export class PixelBudget {
  private used = 0;
  private readonly waiters: { pixels: number; grant: () => void }[] = [];

  constructor(readonly capacity: number) {}

  get inUse(): number {
    return this.used;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Waits until `pixels` fit, takes them, and returns the function that gives them back. */
  async acquire(pixels: number): Promise<() => void> {
    // More than the whole budget can never fit: take all of it (callers refuse such images earlier).
    const take = Math.min(pixels, this.capacity);
    if (this.waiters.length === 0 && this.used + take <= this.capacity) this.used += take;
    else await new Promise<void>((grant) => this.waiters.push({ pixels: take, grant }));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= take;
      this.grantWaiting();
    };
  }

  private grantWaiting(): void {
    for (
      let next = this.waiters[0];
      next && this.used + next.pixels <= this.capacity;
      next = this.waiters[0]
    ) {
      this.waiters.shift();
      this.used += next.pixels;
      next.grant();
    }
  }
}
