// @ts-check
// The console's entry: reads the server's console settings, shows the API key field when keys are
// required (or a call was refused), and switches between the views by the URL's hash.

import { apiKey, call, describe, keyProblem, whenUnauthorized } from "./api.js";
import { byId } from "./dom.js";
import { mountEvaluation } from "./evaluation.js";
import { mountJudge } from "./judge.js";
import { mountRank } from "./rank.js";
import { mountServer } from "./server.js";

const VIEWS = ["judge", "rank", "evaluation", "server"];

async function start() {
  /** @type {{ keyRequired: boolean, reports: boolean }} */
  let settings = { keyRequired: false, reports: false };
  const keyForm = byId("key-form", HTMLFormElement);
  const keyInput = byId("api-key", HTMLInputElement);
  const keyState = byId("key-state", HTMLSpanElement);
  try {
    // Without the key: a bad stored key must not hide the field that fixes it.
    settings = await call("/console/api/settings", { anonymous: true });
  } catch (error) {
    keyForm.hidden = false;
    keyState.textContent = describe(error);
  }

  const showKeyField = () => {
    keyForm.hidden = false;
    keyState.textContent = apiKey.get() ? "The server refused this key." : "This server needs an API key.";
  };
  if (settings.keyRequired) showKeyField();
  whenUnauthorized(showKeyField);
  keyInput.value = apiKey.get();
  keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    const problem = keyProblem(key);
    if (problem) {
      keyInput.setAttribute("aria-invalid", "true");
      keyState.textContent = problem;
      return;
    }
    keyInput.removeAttribute("aria-invalid");
    apiKey.set(key);
    keyState.textContent = key ? "Key set for this tab." : "Key cleared.";
    shown.get(current())?.shown?.();
  });

  const context = { keyRequired: () => settings.keyRequired, reportsServed: () => settings.reports };
  mountJudge(context);
  mountRank(context);
  /** @type {Map<string, { shown?: () => unknown, hidden?: () => unknown }>} */
  const shown = new Map();
  shown.set("evaluation", mountEvaluation(context));
  shown.set("server", mountServer());

  const current = () => {
    const view = location.hash.slice(1);
    return VIEWS.includes(view) ? view : "judge";
  };
  let previous = "";
  const route = () => {
    const view = current();
    if (view === previous) return;
    shown.get(previous)?.hidden?.();
    for (const name of VIEWS) {
      byId(`view-${name}`, HTMLElement).hidden = name !== view;
      const link = document.querySelector(`nav a[data-view="${name}"]`);
      if (name === view) link?.setAttribute("aria-current", "page");
      else link?.removeAttribute("aria-current");
    }
    previous = view;
    shown.get(view)?.shown?.();
  };
  addEventListener("hashchange", route);
  route();
  document.body.dataset.ready = "true";
}

void start();
