// Readiness and draining: not ready while loading, ready once a real generation has succeeded,
// not ready again while draining after SIGTERM (new work gets 503; accepted work finishes).

export type Phase = "loading" | "ready" | "draining";

export class Lifecycle {
  phase: Phase = "loading";
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  get ready(): boolean {
    return this.phase === "ready";
  }

  /** Tracks one accepted request until `done` is called. */
  begin(): () => void {
    this.inFlight++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    };
  }

  get active(): number {
    return this.inFlight;
  }

  /** Resolves when every accepted request has finished. */
  idle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
