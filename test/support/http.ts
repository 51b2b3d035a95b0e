// One HTTP call as the tests make it against a real server: JSON bodies (a string is sent as it is,
// for malformed bodies), an optional API key, extra headers; the answer's status, headers, text and
// JSON (undefined when the text is not JSON).

export interface Reply {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field by the tests
  json: any;
  text: string;
}

export interface CallOptions {
  /** Default: GET without a body, POST with one. */
  method?: string;
  body?: unknown;
  /** Sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
  headers?: Record<string, string>;
}

export async function httpCall(baseUrl: string, route: string, options: CallOptions = {}): Promise<Reply> {
  const { body, apiKey, headers = {} } = options;
  const res = await fetch(`${baseUrl}${route}`, {
    method: options.method ?? (body === undefined ? "GET" : "POST"),
    headers: {
      ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}
