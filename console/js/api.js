// @ts-check
// The public API as the page calls it: the same routes and auth as any client, errors read from their
// application/problem+json bodies so the page can say what went wrong (a 401 is a message, never a
// blank page).

/**
 * @typedef {import("../../src/api/api.ts").components["schemas"]} Schemas
 * @typedef {Schemas["JudgeRequest"]} JudgeRequest
 * @typedef {Schemas["Judgement"]} Judgement
 * @typedef {Schemas["RankRequest"]} RankRequest
 * @typedef {Schemas["RankResult"]} RankResult
 * @typedef {{ field: string, message: string }} FieldError
 */

const KEY_STORAGE = "r1judge.apiKey";

/**
 * Why a key cannot be used, or undefined: it travels in an HTTP header, so only visible ASCII (the
 * server refuses keys with whitespace, and a browser cannot send other characters in a header).
 * @param {string} key
 * @returns {string | undefined}
 */
export function keyProblem(key) {
  return /^[\x21-\x7e]*$/.test(key)
    ? undefined
    : "An API key is sent in an HTTP header: only visible ASCII characters (no spaces, no accents or other scripts).";
}

/** The API key for this tab (kept in sessionStorage: gone when the tab closes). */
export const apiKey = {
  /** @returns {string} */
  get() {
    const key = sessionStorage.getItem(KEY_STORAGE) ?? "";
    // A key stored before it could be checked is dropped rather than breaking every call.
    return keyProblem(key) ? "" : key;
  },
  /** @param {string} key */
  set(key) {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  },
};

/** Listeners told when the server refuses the key (the header then shows the key field). */
/** @type {Set<() => void>} */
const onUnauthorized = new Set();
/** @param {() => void} listener */
export function whenUnauthorized(listener) {
  onUnauthorized.add(listener);
}

/** An HTTP error with the problem body's detail and field errors. */
export class ApiProblem extends Error {
  /**
   * @param {number} status
   * @param {string} title
   * @param {string} detail
   * @param {FieldError[]} errors
   * @param {number | undefined} retryAfter seconds, from Retry-After
   */
  constructor(status, title, detail, errors, retryAfter) {
    super(`${title} (${status}): ${detail}`);
    this.name = "ApiProblem";
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.errors = errors;
    this.retryAfter = retryAfter;
  }
}

/**
 * @param {Response} response
 * @returns {Promise<ApiProblem>}
 */
async function problemOf(response) {
  const text = await response.text();
  /** @type {{ title?: unknown, detail?: unknown, errors?: unknown }} */
  let body = {};
  try {
    body = JSON.parse(text);
  } catch {
    // Not a problem body (a proxy's page): the status line says enough.
  }
  const errors = Array.isArray(body.errors)
    ? body.errors.filter(
        /** @returns {e is FieldError} */
        (e) => typeof e?.field === "string" && typeof e?.message === "string",
      )
    : [];
  return new ApiProblem(
    response.status,
    typeof body.title === "string" ? body.title : response.statusText || "Error",
    typeof body.detail === "string" ? body.detail : text.slice(0, 200) || "no detail given",
    errors,
    Number(response.headers.get("retry-after")) || undefined,
  );
}

/**
 * Calls the API; resolves with the parsed JSON or the text, rejects with an ApiProblem.
 * @param {string} path
 * @param {{ method?: string, body?: unknown, signal?: AbortSignal, text?: boolean, anonymous?: boolean }} [options]
 *   anonymous: send no key (a route that needs none, so a bad key cannot break it)
 * @returns {Promise<any>}
 */
export async function call(path, options = {}) {
  /** @type {Record<string, string>} */
  const headers = {};
  const key = options.anonymous ? "" : apiKey.get();
  if (key) headers.authorization = `Bearer ${key}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, {
    method: options.method ?? (options.body === undefined ? "GET" : "POST"),
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (!response.ok) {
    const problem = await problemOf(response);
    if (response.status === 401) for (const listener of onUnauthorized) listener();
    throw problem;
  }
  return options.text ? response.text() : response.json();
}

/**
 * What to tell the user about a failed call.
 * @param {unknown} error
 * @returns {string}
 */
export function describe(error) {
  if (error instanceof ApiProblem) {
    // The detail often is the first field error already; name only the fields it does not cover.
    const more = error.errors
      .map((e) => (e.message.startsWith(e.field) ? e.message : `${e.field}: ${e.message}`))
      .filter((line) => !error.detail.includes(line));
    const hint =
      error.status === 401
        ? " Enter a valid API key at the top of the page."
        : error.retryAfter
          ? ` Try again in ${error.retryAfter} s.`
          : "";
    return `${error.title} (${error.status}): ${error.detail}${more.length ? ` — ${more.join("; ")}` : ""}.${hint}`;
  }
  if (error instanceof TypeError) return `Could not reach the server (${error.message}).`;
  return error instanceof Error ? error.message : String(error);
}
