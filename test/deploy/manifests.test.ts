// The Kubernetes manifests under deploy/: every object (base, and each overlay with its patches
// applied) validates against the Kubernetes schemas (kubernetes-models), has no key the schema does not
// know (kubernetes-models accepts unknown fields, so they are walked against @kubernetes/client-node's
// type maps), and keeps the promises docs/deploy.md makes: probes on the right paths, a grace period
// longer than the preStop pause plus the server's drain, API keys from a Secret, GPUs in GPU overlays.

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
// Only the generated models: the package root loads an HTTP client that needs a newer Node.
import * as k8s from "@kubernetes/client-node/dist/gen/models/all.js";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { Service } from "kubernetes-models/v1/Service";
import { parseAllDocuments } from "yaml";

const DEPLOY = path.resolve(import.meta.dirname, "../../deploy");

type Json = Record<string, unknown>;

const MODELS: Record<string, { validate(): void } & (new (data: never) => { validate(): void })> = {
  "apps/v1/Deployment": Deployment as never,
  "v1/Service": Service as never,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler as never,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget as never,
};
const TYPES: Record<string, string> = {
  "apps/v1/Deployment": "V1Deployment",
  "v1/Service": "V1Service",
  "autoscaling/v2/HorizontalPodAutoscaler": "V2HorizontalPodAutoscaler",
  "policy/v1/PodDisruptionBudget": "V1PodDisruptionBudget",
};

function readYaml(file: string): Json[] {
  return parseAllDocuments(readFileSync(file, "utf8")).map((d) => d.toJSON() as Json);
}

/** Keys of `value` that the Kubernetes type `type` does not have, as dotted paths. */
function unknownKeys(value: unknown, type: string, at: string): string[] {
  const list = /^Array<(.+)>$/.exec(type);
  if (list) {
    if (!Array.isArray(value)) return [];
    return value.flatMap((v, i) => unknownKeys(v, list[1] as string, `${at}[${i}]`));
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (!value || typeof value !== "object") return [];
    return Object.entries(value).flatMap(([k, v]) => unknownKeys(v, map[1] as string, `${at}.${k}`));
  }
  const model = (
    k8s as unknown as Record<string, { getAttributeTypeMap?: () => { baseName: string; type: string }[] }>
  )[type];
  if (!model?.getAttributeTypeMap || !value || typeof value !== "object") return [];
  const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  return Object.entries(value as Json).flatMap(([key, v]) => {
    const child = attributes.get(key);
    return child === undefined ? [`${at}.${key}`] : unknownKeys(v, child, `${at}.${key}`);
  });
}

function keyOf(doc: Json): string {
  return `${doc.apiVersion}/${doc.kind}`;
}

function validate(doc: Json, where: string): void {
  const key = keyOf(doc);
  const Model = MODELS[key];
  assert.ok(Model, `${where}: ${key} is not a kind these tests know`);
  assert.doesNotThrow(() => new Model(doc as never).validate(), `${where}: ${key} fails the schema`);
  assert.deepEqual(unknownKeys(doc, TYPES[key] as string, key), [], `${where}: keys outside the schema`);
}

/** A strategic-merge patch as kustomize applies ours: maps merge, lists of named items merge by name. */
function merge(base: unknown, patch: unknown): unknown {
  if (Array.isArray(base) && Array.isArray(patch)) {
    if (!patch.every((p) => p && typeof p === "object" && "name" in p)) return patch;
    const out = base.map((b) => ({ ...(b as Json) }));
    for (const p of patch as Json[]) {
      const i = out.findIndex((b) => b.name === p.name);
      if (i >= 0) out[i] = merge(out[i], p) as Json;
      else out.push(p);
    }
    return out;
  }
  if (base && patch && typeof base === "object" && typeof patch === "object" && !Array.isArray(base)) {
    const out: Json = { ...(base as Json) };
    for (const [k, v] of Object.entries(patch as Json)) out[k] = k in out ? merge(out[k], v) : v;
    return out;
  }
  return patch;
}

/** The objects `kubectl apply -k dir` would apply (resources, then patches by kind and name). */
function build(dir: string): Json[] {
  const kustomization = readYaml(path.join(dir, "kustomization.yaml"))[0] as Json;
  let docs: Json[] = [];
  for (const resource of (kustomization.resources as string[]) ?? []) {
    const target = path.join(dir, resource);
    assert.ok(existsSync(target), `${dir}: resource ${resource} is missing`);
    docs.push(...(existsSync(path.join(target, "kustomization.yaml")) ? build(target) : readYaml(target)));
  }
  for (const { path: file } of (kustomization.patches as { path: string }[]) ?? []) {
    for (const patch of readYaml(path.join(dir, file))) {
      const meta = patch.metadata as Json;
      const i = docs.findIndex((d) => keyOf(d) === keyOf(patch) && (d.metadata as Json).name === meta.name);
      assert.ok(i >= 0, `${dir}/${file}: patches ${keyOf(patch)} ${meta.name}, which no resource defines`);
      docs[i] = merge(docs[i], patch) as Json;
    }
  }
  docs = docs.map((d) => d);
  return docs;
}

const overlays = readdirSync(path.join(DEPLOY, "overlays"));
const builds = [
  { name: "base", dir: path.join(DEPLOY, "base") },
  ...overlays.map((o) => ({ name: `overlays/${o}`, dir: path.join(DEPLOY, "overlays", o) })),
];

function deployment(docs: Json[]): Json {
  const d = docs.find((doc) => doc.kind === "Deployment");
  assert.ok(d, "no Deployment");
  return d;
}

function container(docs: Json[]): Json {
  const spec = (deployment(docs).spec as Json).template as Json;
  return ((spec.spec as Json).containers as Json[])[0] as Json;
}

for (const { name, dir } of builds) {
  test(`${name}: every object validates against the Kubernetes schema, with no unknown key`, () => {
    const docs = build(dir);
    assert.deepEqual(docs.map((d) => d.kind).sort(), [
      "Deployment",
      "HorizontalPodAutoscaler",
      "PodDisruptionBudget",
      "Service",
    ]);
    for (const doc of docs) validate(doc, name);
  });

  test(`${name}: probes, drain timing, API keys from a Secret, resources`, () => {
    const docs = build(dir);
    const c = container(docs);
    const probe = (p: string) => ((c[p] as Json).httpGet as Json).path;
    assert.equal(probe("readinessProbe"), "/readyz");
    assert.equal(probe("livenessProbe"), "/healthz");
    const startup = c.startupProbe as Json;
    assert.ok(
      (startup.periodSeconds as number) * (startup.failureThreshold as number) >= 300,
      "the startup probe allows at least 5 minutes for the model to load",
    );
    const env = new Map((c.env as Json[]).map((e) => [e.name, e]));
    assert.equal((env.get("R1JUDGE_HOST") as Json).value, "0.0.0.0");
    const grace = Number((env.get("R1JUDGE_SHUTDOWN_GRACE_MS") as Json).value) / 1000;
    const preStop = ((c.lifecycle as Json).preStop as Json).exec as Json;
    const pause = Number((preStop.command as string[])[1]);
    const podSpec = ((deployment(docs).spec as Json).template as Json).spec as Json;
    assert.ok(
      (podSpec.terminationGracePeriodSeconds as number) > pause + grace,
      "the pod's grace period outlasts the preStop pause and the server's drain",
    );
    const keys = ((env.get("R1JUDGE_API_KEYS") as Json).valueFrom as Json).secretKeyRef as Json;
    assert.equal(keys.name, "r1judge-api-keys");
    const resources = c.resources as Json;
    assert.ok((resources.requests as Json).cpu && (resources.requests as Json).memory);
    assert.ok((resources.limits as Json).memory);
    const gpus = (resources.limits as Json)["nvidia.com/gpu"];
    if (name.startsWith("overlays/")) {
      assert.equal(gpus, "1", "a GPU overlay asks for a GPU");
      assert.equal((env.get("R1JUDGE_DEVICE") as Json).value, path.basename(name));
    } else assert.equal(gpus, undefined);
    // The Service, the PDB and the HPA point at this Deployment's pods.
    const labels = ((deployment(docs).spec as Json).selector as Json).matchLabels as Json;
    const service = docs.find((d) => d.kind === "Service") as Json;
    for (const [k, v] of Object.entries((service.spec as Json).selector as Json)) assert.equal(labels[k], v);
    const hpa = docs.find((d) => d.kind === "HorizontalPodAutoscaler") as Json;
    assert.equal(((hpa.spec as Json).scaleTargetRef as Json).name, (deployment(docs).metadata as Json).name);
  });
}

test("the schema checks catch what they should: an unknown key and a wrong type", () => {
  const docs = build(path.join(DEPLOY, "base"));
  const broken = structuredClone(deployment(docs));
  ((broken.spec as Json).template as Json).spec = {
    ...(((broken.spec as Json).template as Json).spec as Json),
    terminationGracePeriod: 45,
  };
  assert.throws(() => validate(broken, "test"), /keys outside the schema/);
  const deep = structuredClone(deployment(docs));
  const probe = (container([deep]).readinessProbe as Json).httpGet as Json;
  probe.paht = "/readyz";
  assert.throws(() => validate(deep, "test"), /paht/);
  const wrongType = structuredClone(deployment(docs));
  (wrongType.spec as Json).replicas = "two";
  assert.throws(() => validate(wrongType, "test"), /fails the schema/);
});
