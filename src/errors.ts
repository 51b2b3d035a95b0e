// The one error type the server raises on purpose: a code, its HTTP status and title, a detail, and
// the failing fields. src/server/problem.ts is the one place any error becomes an HTTP response.

export const ERROR_CODES = {
  invalid_request: { status: 400, title: "Invalid request" },
  unauthorized: { status: 401, title: "Unauthorized" },
  not_found: { status: 404, title: "Not found" },
  method_not_allowed: { status: 405, title: "Method not allowed" },
  payload_too_large: { status: 413, title: "Payload too large" },
  unsupported_media_type: { status: 415, title: "Unsupported media type" },
  unprocessable: { status: 422, title: "Unprocessable request" },
  queue_full: { status: 429, title: "Queue full" },
  internal: { status: 500, title: "Internal server error" },
  // A judgement that produced no valid vote, where a reward was asked for: no reward, and a status
  // every RL client retries (OpenRLHF any failure, slime and verl 5xx).
  no_verdict: { status: 502, title: "No verdict" },
  not_ready: { status: 503, title: "Not ready" },
  draining: { status: 503, title: "Draining" },
  deadline_exceeded: { status: 504, title: "Deadline exceeded" },
  // nginx's 499: the client left before the answer; nobody reads it, but logs and metrics do.
  client_closed: { status: 499, title: "Client closed request" },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface FieldError {
  /** Path of the failing field: `responses[1]`, `items[3].samples`; `body` for the whole body. */
  field: string;
  message: string;
}

export interface ApiErrorOptions {
  errors?: readonly FieldError[];
  /** Seconds a client should wait before retrying (sent as `Retry-After` on 429 and 503). */
  retryAfter?: number;
  /** The methods a path does take (sent as `Allow` on 405). */
  allow?: readonly string[];
  cause?: unknown;
}

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly errors: readonly FieldError[];
  readonly retryAfter: number | undefined;
  readonly allow: readonly string[] | undefined;

  constructor(code: ErrorCode, detail: string, options: ApiErrorOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ApiError";
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.title = ERROR_CODES[code].title;
    this.detail = detail;
    this.errors = Object.freeze([...(options.errors ?? [])]);
    this.retryAfter = options.retryAfter;
    this.allow = options.allow;
  }

  /** The same error with every field path put under `prefix` (e.g. `items[3]`), for batch items. */
  within(prefix: string): ApiError {
    return new ApiError(this.code, this.detail, {
      errors: this.errors.map((e) => ({ ...e, field: joinField(prefix, e.field) })),
      ...(this.retryAfter === undefined ? {} : { retryAfter: this.retryAfter }),
      cause: this,
    });
  }
}

/**
 * A validation issue's path as a field name (request bodies, results.jsonl lines):
 * `["items", 3, "samples"]` → `items[3].samples`; `[]` → `body`.
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else {
      const name = String(key);
      out += /^[A-Za-z_$][\w$]*$/.test(name) ? (out ? `.${name}` : name) : `[${JSON.stringify(name)}]`;
    }
  }
  return out || "body";
}

/** `items[3]` + `samples` → `items[3].samples`; `items[3]` + `[1]` → `items[3][1]`; `body` is the root. */
export function joinField(prefix: string, field: string): string {
  if (field === "body" || field === "") return prefix;
  if (prefix === "body" || prefix === "") return field;
  return field.startsWith("[") ? `${prefix}${field}` : `${prefix}.${field}`;
}

export function isApiError(err: unknown): err is ApiError {
  return err instanceof ApiError;
}
