// The dependency direction of src/ (docs/architecture.md): server → judge → engine → onnxruntime-node,
// and nothing imports server but main.ts (the wiring). Only src/engine/runtime/onnx.ts imports
// onnxruntime-node, and only src/config.ts reads process.env. Imports are read from the source text
// (static, type-only, re-exports, dynamic import() and require()), after dropping comment lines.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SRC = path.join(ROOT, "src");

interface Import {
  /** Repository-relative path of the importing file, e.g. `src/engine/engine.ts`. */
  file: string;
  line: number;
  specifier: string;
  /** The matched statement text, e.g. `import { env } from "node:process"`. */
  statement: string;
  /** For relative specifiers: the imported file, repository-relative, with `.js` read as `.ts`. */
  target?: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return /\.(ts|mts|cts|js|mjs)$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [full] : [];
  });
}

const rel = (file: string) => path.relative(ROOT, file).split(path.sep).join("/");

/** The text with comment lines blanked (line numbers kept) and trailing `// …` comments cut. */
function code(text: string): string {
  let inBlock = false;
  return text
    .split("\n")
    .map((line) => {
      const trimmed = line.trim();
      if (inBlock) {
        if (trimmed.includes("*/")) inBlock = false;
        return "";
      }
      if (trimmed.startsWith("/*")) {
        inBlock = !trimmed.includes("*/");
        return "";
      }
      if (trimmed.startsWith("//") || trimmed.startsWith("*")) return "";
      return line.replace(/\s\/\/.*$/, "");
    })
    .join("\n");
}

const IMPORT_PATTERNS = [
  /\b(?:import|export)\s+(?:type\s+)?[^'"`;]*?\bfrom\s*["']([^"']+)["']/g, // import … from "x", export … from "x"
  /\bimport\s*["']([^"']+)["']/g, // import "x"
  /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g, // import("x")
  /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g, // require("x")
];

function importsOf(file: string, text: string): Import[] {
  const found = new Map<string, Import>();
  for (const pattern of IMPORT_PATTERNS) {
    for (const match of text.matchAll(pattern)) {
      const specifier = match[1] as string;
      const line = text.slice(0, match.index).split("\n").length;
      const item: Import = { file: rel(file), line, specifier, statement: match[0] };
      if (specifier.startsWith(".")) {
        item.target = rel(path.resolve(path.dirname(file), specifier)).replace(/\.js$/, ".ts");
      }
      found.set(`${line}:${specifier}`, item);
    }
  }
  return [...found.values()];
}

const files = sourceFiles(SRC).sort();
const texts = new Map(files.map((f) => [f, code(readFileSync(f, "utf8"))]));
const imports = files.flatMap((f) => importsOf(f, texts.get(f) as string));

const show = (i: Import) => `${i.file}:${i.line} imports "${i.specifier}"${i.target ? ` (${i.target})` : ""}`;
const under = (dir: string) => (target: string | undefined) => target?.startsWith(`src/${dir}/`) ?? false;
const isFile =
  (...names: string[]) =>
  (target: string | undefined) =>
    names.some((n) => target === `src/${n}`);

/** Every import of a file under `from` whose target matches one of `forbidden`, as readable lines. */
function violations(from: (file: string) => boolean, forbidden: ((target?: string) => boolean)[]): string[] {
  return imports.filter((i) => from(i.file) && forbidden.some((f) => f(i.target))).map(show);
}

function assertNone(found: string[], rule: string): void {
  assert.equal(found.length, 0, `${rule}; found:\n  ${found.join("\n  ")}`);
}

test("the scanner sees the imports it should (a sanity check, so the rules below cannot pass vacuously)", () => {
  const seen = (file: string, target: string) => imports.some((i) => i.file === file && i.target === target);
  assert.ok(files.length > 20, `found only ${files.length} source files under src/`);
  assert.ok(seen("src/main.ts", "src/server/app.ts"), "main.ts → server/app.ts not found");
  assert.ok(
    seen("src/server/judging.ts", "src/judge/judge.ts"),
    "server/judging.ts → judge/judge.ts not found",
  );
  assert.ok(
    imports.some((i) => i.file === "src/engine/runtime/onnx.ts" && i.specifier === "onnxruntime-node"),
    "runtime/onnx.ts → onnxruntime-node not found",
  );
});

test("src/engine/ imports nothing from judge/, server/, main.ts, cli.ts or config.ts", () => {
  assertNone(
    violations(
      (f) => f.startsWith("src/engine/"),
      [under("judge"), under("server"), isFile("main.ts", "cli.ts", "config.ts")],
    ),
    "the engine must not depend on the layers above it",
  );
});

test("src/judge/ imports nothing from server/, main.ts or cli.ts", () => {
  assertNone(
    violations((f) => f.startsWith("src/judge/"), [under("server"), isFile("main.ts", "cli.ts")]),
    "judging must not depend on the HTTP layer",
  );
});

test("nothing imports src/server/ but server/ itself and main.ts (the wiring)", () => {
  assertNone(
    violations((f) => !f.startsWith("src/server/") && f !== "src/main.ts", [under("server")]),
    "nothing imports server",
  );
});

test("src/engine/protocol.ts imports nothing but types (plain data crosses the worker boundary)", () => {
  const found = imports
    .filter((i) => i.file === "src/engine/protocol.ts" && !/^(?:import|export)\s+type\b/.test(i.statement))
    .map(show);
  assert.ok(
    imports.some((i) => i.file === "src/engine/protocol.ts"),
    "protocol.ts imports not found",
  );
  assertNone(found, "protocol.ts holds types only");
});

test('only src/engine/runtime/onnx.ts imports "onnxruntime-node"', () => {
  const found = imports
    .filter((i) => /^onnxruntime-node(\/|$)/.test(i.specifier) && i.file !== "src/engine/runtime/onnx.ts")
    .map(show);
  assertNone(found, "onnxruntime-node belongs to src/engine/runtime/onnx.ts alone");
});

test("only src/config.ts reads process.env (engine/client.ts only turns ORT telemetry off)", () => {
  const reads = /\bprocess\s*(?:\.\s*env\b|\[\s*["'`]env["'`]\s*\])|\{[^}]*\benv\b[^}]*\}\s*=\s*process\b/;
  const telemetryOff = /^\s*process\.env\.ORT_DISABLE_TELEMETRY = "1";$/;
  const found: string[] = [];
  for (const [file, text] of texts) {
    if (rel(file) === "src/config.ts") continue;
    text.split("\n").forEach((line, k) => {
      if (rel(file) === "src/engine/client.ts" && telemetryOff.test(line)) return;
      if (reads.test(line)) found.push(`${rel(file)}:${k + 1}: ${line.trim()}`);
    });
  }
  for (const i of imports) {
    if (i.file !== "src/config.ts" && /^(node:)?process$/.test(i.specifier) && /\benv\b/.test(i.statement))
      found.push(show(i));
  }
  assertNone(found, "the configuration (src/config.ts) is the only reader of process.env");
});
