// Readiness and draining: not ready while loading, ready once a real generation has succeeded and
// while the engine serves, not ready while the engine restarts after a failure, and not ready again
// while draining after SIGTERM (new work gets 503; accepted work finishes). `shutdown` fires when
// the drain's grace runs out, so requests still running answer 503 instead of being cut off.

export type Phase = "loading" | "ready" | "draining";

export class Lifecycle {
  private current: Phase = "loading";
  readonly shutdown = new AbortController();
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  /** `engineReady` says whether the engine serves now (false while it restarts). */
  constructor(private readonly engineReady: () => boolean = () => true) {}

  /**
   * One way only: loading → ready → draining, or loading → draining. /readyz and the work routes
   * both read this one field, so once any request has seen `draining` readiness is 503 too — and a
   * model that finishes loading after SIGTERM cannot make a draining server ready again.
   */
  get phase(): Phase {
    return this.current;
  }

  /** The model has loaded: ready, unless the server is already draining (then false). */
  markReady(): boolean {
    if (this.current !== "loading") return false;
    this.current = "ready";
    return true;
  }

  /** Starts the drain; false when it had already started. */
  drain(): boolean {
    if (this.current === "draining") return false;
    this.current = "draining";
    return true;
  }

  get ready(): boolean {
    return this.notReadyBecause === undefined;
  }

  /** Why the server is not ready, or undefined when it is. */
  get notReadyBecause(): "loading" | "draining" | "engine" | undefined {
    if (this.current === "draining") return "draining";
    if (this.current === "loading") return "loading";
    return this.engineReady() ? undefined : "engine";
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
