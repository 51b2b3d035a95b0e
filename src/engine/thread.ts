// Starts a worker thread from a module URL. From TypeScript sources (tests, benchmarks, `npm start`)
// the thread registers tsx before importing the .ts module; from the built dist it loads the .js
// directly. (client.ts starts the engine's own thread the same way.)

import { Worker, type WorkerOptions } from "node:worker_threads";

/** `./name.ts` next to `base` when running from sources, `./name.js` in the build. */
export function siblingModule(base: string, name: string): URL {
  return new URL(base.endsWith(".ts") ? `./${name}.ts` : `./${name}.js`, base);
}

export function startThread(url: URL, options: WorkerOptions = {}): Worker {
  if (!url.pathname.endsWith(".ts")) return new Worker(url, options);
  const boot = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(boot, { ...options, eval: true });
}
