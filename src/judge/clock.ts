// Time as judging sees it: the moment a request arrived (its deadline counts from there) and a timer
// for that deadline. Production uses the system clock; deadline tests pass a clock they move by hand.

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Calls `fire` once `ms` have passed; the returned function cancels it. */
  after(ms: number, fire: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  after: (ms, fire) => {
    const timer = setTimeout(fire, ms);
    return () => clearTimeout(timer);
  },
};
