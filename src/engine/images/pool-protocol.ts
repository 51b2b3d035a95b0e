// Plain data between the image pool (pool.ts) and its threads (pool-worker.ts). Types only.

import type { EngineFailure } from "../errors.js";
import type { PreparedPixels, PrepareJob } from "./prepare.js";

export interface PoolRequest {
  id: number;
  job: PrepareJob;
}

export type PoolReply =
  | ({ id: number; ok: true } & PreparedPixels)
  /** `name` is the error's class (ImageDecodeError, …), rebuilt on the other side. */
  | { id: number; ok: false; name: string; failure: EngineFailure };
