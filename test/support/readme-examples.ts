// The README's `sh tested` blocks as requests and expectations (test/docs/readme.test.ts): each
// `curl` command with the `# →` line after it, bash's reading of its arguments, and the comparison of
// an answer with a shown output in which `…` leaves things out.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

export interface Example {
  command: string;
  shown?: string;
  line: number;
}

/** The curl commands of the `sh tested` blocks, each with the `# →` line that follows it. */
export function examples(markdown: string): Example[] {
  const found: Example[] = [];
  let inBlock = false;
  let command: Example | undefined; // the command whose continuation lines are being read
  for (const [i, line] of markdown.split("\n").entries()) {
    if (!inBlock) {
      inBlock = line.trim() === "```sh tested";
      continue;
    }
    const shown = /^# → (.*)$/.exec(line);
    if (shown) {
      assert.ok(command, `README.md:${i + 1}: a # → line that does not follow a command`);
      command.shown = shown[1];
      command = undefined;
    } else if (line.startsWith("curl ")) {
      command = { command: line, line: i + 1 };
      found.push(command);
    } else if (line.startsWith("```") || line.trim() === "" || line.startsWith("#")) {
      inBlock = !line.startsWith("```");
      command = undefined;
    } else if (command) {
      command.command += `\n${line}`;
    }
  }
  return found;
}

/** curl's arguments as bash makes them from the command text (a function stands in for curl). */
export function curlArgs(command: string, cwd: string): string[] {
  const script = `curl() { printf '%s\\0' "$@"; }\n${command}\n`;
  const out = spawnSync("bash", ["-c", script], { cwd, encoding: "utf8" });
  assert.equal(out.status, 0, out.stderr);
  return out.stdout.split("\0").slice(0, -1);
}

export function request(args: string[], base: string): { url: string; init: RequestInit } {
  const headers: Record<string, string> = {};
  let body: string | undefined;
  let target: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "-s") continue;
    if (arg === "-H") {
      const [name, ...value] = (args[++i] as string).split(":");
      headers[name as string] = value.join(":").trim();
    } else if (arg === "-d") body = args[++i];
    else if (!arg.startsWith("-")) target = arg;
    else throw new Error(`curl option ${arg} is not understood by this test`);
  }
  const route = target?.startsWith("localhost:8080/") ? target.slice("localhost:8080".length) : undefined;
  if (route === undefined) throw new Error(`the examples call localhost:8080, not ${target}`);
  const url = new URL(route, base).href;
  return { url, init: { method: body === undefined ? "GET" : "POST", headers, body } };
}

const ANY_ARRAY = "\u0000[…]";
const ANY_OBJECT = "\u0000{…}";
const MORE = "\u0000…";

/** The shown output as JSON, with markers where `…` left something out. */
export function parseShown(shown: string): unknown {
  const marked = shown
    .replaceAll("[…]", JSON.stringify(ANY_ARRAY))
    .replaceAll("{…}", JSON.stringify(ANY_OBJECT))
    .replaceAll(",…}", `,${JSON.stringify(MORE)}:true}`)
    .replaceAll(",…]", `,${JSON.stringify(MORE)}]`);
  return JSON.parse(marked);
}

/** Asserts `actual` has what `shown` shows; `where` is the field path for the message. */
export function matchShown(actual: unknown, shown: unknown, where = "$"): void {
  const isObject = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
  if (shown === ANY_ARRAY) {
    assert.ok(Array.isArray(actual), `${where}: expected an array`);
  } else if (shown === ANY_OBJECT) {
    assert.ok(isObject(actual), `${where}: expected an object`);
  } else if (typeof shown === "number") {
    assert.equal(typeof actual, "number", `${where}: expected a number, got ${JSON.stringify(actual)}`);
    assert.ok(Math.abs((actual as number) - shown) <= 1e-3, `${where}: ${actual}, README shows ${shown}`);
  } else if (Array.isArray(shown)) {
    assert.ok(Array.isArray(actual), `${where}: expected an array`);
    const more = shown.at(-1) === MORE;
    const items = more ? shown.slice(0, -1) : shown;
    if (!more)
      assert.equal(
        actual.length,
        items.length,
        `${where}: ${actual.length} items, README shows ${items.length}`,
      );
    items.forEach((item, i) => {
      matchShown(actual[i], item, `${where}[${i}]`);
    });
  } else if (isObject(shown)) {
    assert.ok(isObject(actual), `${where}: expected an object`);
    const got = actual as Record<string, unknown>;
    const want = shown as Record<string, unknown>;
    const keys = Object.keys(want).filter((k) => k !== MORE);
    if (!(MORE in want)) assert.deepEqual(Object.keys(got).sort(), [...keys].sort(), `${where}: keys`);
    for (const key of keys) matchShown(got[key], want[key], `${where}.${key}`);
  } else {
    assert.equal(actual, shown, `${where}: ${JSON.stringify(actual)}, README shows ${JSON.stringify(shown)}`);
  }
}
