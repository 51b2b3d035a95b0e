// The real server as a child process (the CLI, as an operator runs it), for tests, the fault suite
// and benchmarks that need signals, exit codes or the process's memory: start on a free loopback
// port, wait for "ready", read RSS from /proc, stop with a signal.

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";

export const ROOT = path.resolve(import.meta.dirname, "../..");

export interface ChildServer {
  url: string;
  child: ChildProcess;
  /** Every log line so far (JSON lines from pino, and whatever else was printed). */
  logs: string[];
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string | null>;
  readonly alive: boolean;
  /** Resident memory now and at its peak so far, in MiB (Linux /proc); NaN once it has exited. */
  memory(): { rssMiB: number; peakMiB: number };
  /** Sends `signal` and waits for the exit (SIGKILL after `timeoutMs`). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string | null>;
}

export interface ChildServerOptions {
  /** Flags after `serve` (a free port on 127.0.0.1 is chosen unless --port is given). */
  args?: string[];
  env?: Record<string, string>;
  /** The repository whose src/cli.ts runs (another checkout, to compare). */
  root?: string;
  /** How long to wait for "ready". */
  readyTimeoutMs?: number;
  /** A command the server runs under (e.g. strace and its flags). */
  wrap?: string[];
}

function statusKiB(pid: number, key: string): number {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return Number.NaN;
  }
  const match = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status);
  return match ? Number(match[1]) : 0;
}

export async function startChildServer(options: ChildServerOptions = {}): Promise<ChildServer> {
  const root = options.root ?? ROOT;
  const args = options.args ?? [];
  const [command, ...prefix] = [...(options.wrap ?? []), process.execPath];
  const child = spawn(
    command as string,
    [
      ...prefix,
      "--import",
      "tsx",
      path.join(root, "src/cli.ts"),
      "serve",
      ...(args.includes("--port") ? [] : ["--port", "0"]),
      ...(args.includes("--host") ? [] : ["--host", "127.0.0.1"]),
      ...args,
    ],
    {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      // As bin/r1judge, `npm start` and the container image run it (malloc's threshold: docs/reliability.md).
      env: {
        MALLOC_MMAP_THRESHOLD_: "1048576",
        ...process.env,
        R1JUDGE_LOG_LEVEL: "info",
        ...options.env,
      },
    },
  );
  const logs: string[] = [];
  const exited = once(child, "exit").then(([code, signal]) => (code ?? signal) as number | string | null);
  let url = "";
  const ready = new Promise<void>((resolve, reject) => {
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream as NodeJS.ReadableStream }).on("line", (line) => {
        logs.push(line);
        if (line.includes('"msg":"listening')) url = (JSON.parse(line) as { url: string }).url;
        if (line.includes('"msg":"ready"')) resolve();
      });
    }
    void exited.then((code) =>
      reject(new Error(`the server exited (${code}) before it was ready:\n${logs.slice(-5).join("\n")}`)),
    );
    setTimeout(
      () => reject(new Error("the server was not ready in time")),
      options.readyTimeoutMs ?? 60_000,
    ).unref();
  });
  try {
    await ready;
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  const pid = child.pid as number;
  return {
    url,
    child,
    logs,
    exited,
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
    memory: () => ({ rssMiB: statusKiB(pid, "VmRSS") / 1024, peakMiB: statusKiB(pid, "VmHWM") / 1024 }),
    async stop(signal = "SIGTERM", timeoutMs = 60_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
