// The llama.cpp peer's weights: GGUF files rebuilt from a random-weight checkpoint by to_gguf.py.
// `npm run bench` calls ensureGguf on every run; files already there are not rebuilt, so only the
// first run pays for the conversion (about a minute for the 0.5B shape) and for installing `gguf`.

import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import type { Precision } from "./protocol.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const PYTHON = path.join(ROOT, "training/.venv/bin/python");
const TO_GGUF = path.join(import.meta.dirname, "to_gguf.py");

/** The GGUF type that mirrors each of our variants (block 32, symmetric, weight-only). */
export const GGUF_FORMAT: Record<Precision, "f32" | "q8_0" | "q4_0"> = {
  fp32: "f32",
  int8: "q8_0",
  int4: "q4_0",
};

/** Where to_gguf.py writes a precision's file in `dir`. */
export function ggufFile(dir: string, precision: Precision): string {
  return path.join(dir, `model-${GGUF_FORMAT[precision]}.gguf`);
}

/** The venv is shared with training, which does not need `gguf`: install it on first use only. */
async function ensureGgufPackage(): Promise<void> {
  const run = promisify(execFile);
  try {
    await run(PYTHON, ["-c", "import gguf"]);
    return;
  } catch {
    process.stderr.write("[llamacpp] installing the gguf Python package into training/.venv\n");
  }
  // PIP_RETRIES=0: only the local wheel store answers here; retrying an unreachable index just hangs.
  await run(PYTHON, ["-m", "pip", "install", "--quiet", "gguf"], {
    env: { ...process.env, PIP_RETRIES: "0" },
    maxBuffer: 16 << 20,
  });
}

function runToGguf(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [TO_GGUF, ...args], { stdio: ["ignore", "ignore", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`to_gguf.py ${args.join(" ")} exited with ${code}`)),
    );
  });
}

/** The GGUF file of each of `precisions` for the checkpoint at `checkpointDir`, converting what is missing. */
export async function ensureGguf(
  checkpointDir: string,
  outDir: string,
  precisions: readonly Precision[],
): Promise<Partial<Record<Precision, string>>> {
  const unknown = precisions.filter((p) => !(p in GGUF_FORMAT));
  if (unknown.length > 0)
    throw new Error(`unknown precision(s) ${unknown.join(", ")}; known: fp32, int8, int4`);
  const files: Partial<Record<Precision, string>> = {};
  for (const p of precisions) files[p] = ggufFile(outDir, p);
  const missing = precisions.filter((p) => !existsSync(ggufFile(outDir, p)));
  if (missing.length > 0) {
    await ensureGgufPackage();
    await runToGguf([checkpointDir, outDir, ...missing.map((p) => GGUF_FORMAT[p])]);
    for (const p of missing) {
      if (!existsSync(ggufFile(outDir, p)))
        throw new Error(`to_gguf.py did not write ${ggufFile(outDir, p)}`);
    }
  }
  return files;
}

// By hand: node --import tsx bench/peers/llamacpp-setup.ts CHECKPOINT_DIR OUT_DIR [fp32 int8 int4]
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [checkpoint, out, ...rest] = process.argv.slice(2);
  if (!checkpoint || !out) {
    process.stderr.write("usage: llamacpp-setup.ts CHECKPOINT_DIR OUT_DIR [fp32 int8 int4]\n");
    process.exit(2);
  }
  const precisions = (rest.length > 0 ? rest : Object.keys(GGUF_FORMAT)) as Precision[];
  console.log(JSON.stringify(await ensureGguf(checkpoint, out, precisions)));
}
