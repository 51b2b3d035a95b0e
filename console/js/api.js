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

/** The API key for this tab (kept in sessionStorage: gone when the tab closes). */
export const apiKey = {
  /** @returns {string} */
  get() {
    return sessionStorage.getItem(KEY_STORAGE) ?? "";
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
   */
  constructor(status, title, detail, errors) {
    super(`${title} (${status}): ${detail}`);
    this.name = "ApiProblem";
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.errors = errors;
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
  );
}

/**
 * Calls the API; resolves with the parsed JSON or the text, rejects with an ApiProblem.
 * @param {string} path
 * @param {{ method?: string, body?: unknown, signal?: AbortSignal, text?: boolean }} [options]
 * @returns {Promise<any>}
 */
export async function call(path, options = {}) {
  /** @type {Record<string, string>} */
  const headers = {};
  const key = apiKey.get();
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
    const fields = error.errors.map((e) => `${e.field}: ${e.message}`).join("; ");
    const hint = error.status === 401 ? " Enter a valid API key at the top of the page." : "";
    return `${error.title} (${error.status}): ${error.detail}${fields && !error.detail.includes(fields) ? ` — ${fields}` : ""}.${hint}`;
  }
  if (error instanceof TypeError) return `Could not reach the server (${error.message}).`;
  return error instanceof Error ? error.message : String(error);
}
