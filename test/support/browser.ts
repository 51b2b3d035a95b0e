// The browser tests' harness: Debian's Chromium (scripts/setup-chromium.sh) driven by playwright-core,
// headless. A page records, from the moment it is created, every console error or warning, uncaught
// page error and failed request, so a test can assert that the console ran clean. Where Chromium is
// missing the tests skip and say why, except in CI (CI set) or with R1JUDGE_BROWSER_TESTS=required,
// where a missing Chromium fails them (as the WebGPU tests do without SwiftShader).

import { existsSync, statfsSync } from "node:fs";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

/** Bound on a Playwright action (click, fill, goto) and on launching the browser. */
export const ACTION_TIMEOUT_MS = 30_000;
/**
 * Bound on waiting for a judgement to show: generation on the demo model takes several seconds
 * per request on a CPU-only machine, longer while other tests load it.
 */
export const RESULT_TIMEOUT_MS = 60_000;

/** The browser tests must run (not skip) here: in CI, or when asked for. */
export const BROWSER_REQUIRED = Boolean(process.env.CI) || process.env.R1JUDGE_BROWSER_TESTS === "required";

/**
 * Where Chromium is: R1JUDGE_CHROMIUM if set, else Debian's. The binary itself
 * (/usr/lib/chromium/chromium) rather than the /usr/bin/chromium shell wrapper: the wrapper adds
 * flags from /etc/chromium.d (GPU rasterization among them) and Playwright then launches a shell,
 * not the browser.
 */
export function chromiumPath(): string | undefined {
  const fromEnv = process.env.R1JUDGE_CHROMIUM;
  if (fromEnv) return fromEnv;
  return ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].find((p) => existsSync(p));
}

/**
 * Why the browser tests skip here, or undefined when Chromium is there. Throws where they are
 * required (BROWSER_REQUIRED) and Chromium is missing: use it as `test(name, { skip: ... })`, and a
 * test file in CI fails instead of skipping.
 */
export function browserSkipReason(): string | undefined {
  const found = chromiumPath();
  if (found && existsSync(found)) return undefined;
  const reason = process.env.R1JUDGE_CHROMIUM
    ? `R1JUDGE_CHROMIUM=${process.env.R1JUDGE_CHROMIUM} does not exist`
    : "Chromium is not installed (no /usr/lib/chromium/chromium); `bash scripts/setup-chromium.sh` installs it";
  if (BROWSER_REQUIRED) {
    throw new Error(`browser tests are required here (CI or R1JUDGE_BROWSER_TESTS=required): ${reason}`);
  }
  return reason;
}

/** Throws when the browser tests may not skip here and Chromium is missing; see browserSkipReason. */
export function requireBrowserInCi(): void {
  browserSkipReason();
}

/** Chromium wants a roomy /dev/shm; containers often mount 64 MB. Below 1 GiB it uses /tmp. */
function smallDevShm(): boolean {
  try {
    const fs = statfsSync("/dev/shm");
    return fs.bavail * fs.bsize < 1024 ** 3;
  } catch {
    return true;
  }
}

/** Headless Chromium, its launch bounded by ACTION_TIMEOUT_MS. Close it in `after`. */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error(browserSkipReason() ?? "Chromium not found");
  const args = [
    // No GPU in CI: software compositing, without the GPU process probing for drivers.
    "--disable-gpu",
  ];
  // Chromium's sandbox refuses to run as root (CI and the dev containers run as root).
  if (process.getuid?.() === 0) args.push("--no-sandbox");
  if (smallDevShm()) args.push("--disable-dev-shm-usage");
  return chromium.launch({ executablePath, headless: true, args, timeout: ACTION_TIMEOUT_MS });
}

export interface OpenedPage {
  page: Page;
  context: BrowserContext;
  /**
   * What went wrong on the page so far, one line each: console errors and warnings (a Content
   * Security Policy violation is one), uncaught exceptions, failed requests (refused connection,
   * blocked by CSP, DNS). HTTP error statuses are not problems (tests ask for 401s on purpose), and
   * neither is Chromium's console line that reports them. Requests the page cancels itself
   * (net::ERR_ABORTED: an AbortController, a navigation with requests in flight) are not problems.
   */
  problems: string[];
}

/**
 * Chromium's console line for a failed load: for an error status the status is the test's business;
 * for a network error ("net::...") the requestfailed line says the same with the method and URL.
 */
const FAILED_LOAD_LINE = /^Failed to load resource: (the server responded with a status of \d+|net::)/;

/**
 * A page of its own context (fresh cookies and storage) with the viewport given, recording
 * problems from its creation. Actions wait at most ACTION_TIMEOUT_MS; close `context` when done.
 */
export async function openPage(
  browser: Browser,
  url: string,
  viewport: { width: number; height: number } = { width: 1280, height: 800 },
): Promise<OpenedPage> {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(ACTION_TIMEOUT_MS);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("console", (msg) => {
    const type = msg.type();
    if (type !== "error" && type !== "warning") return;
    if (FAILED_LOAD_LINE.test(msg.text())) return;
    const where = msg.location().url;
    problems.push(`console ${type}: ${msg.text()}${where ? ` (${where})` : ""}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.stack ?? err.message}`));
  page.on("requestfailed", (req) => {
    const error = req.failure()?.errorText ?? "?";
    if (error === "net::ERR_ABORTED") return;
    problems.push(`request failed: ${req.method()} ${req.url()}: ${error}`);
  });
  page.on("crash", () => problems.push("page crashed"));
  await page.goto(url);
  return { page, context, problems };
}

/** Fails with every problem the page recorded, one a line. */
export function assertNoProblems(problems: readonly string[]): void {
  if (problems.length > 0) {
    throw new Error(`the page had ${problems.length} problem(s):\n${problems.join("\n")}`);
  }
}
