// The API's own OpenAPI document, read once: the request schemas the forms are built from and
// the enums (job statuses, kinds) the pages offer, so nothing here is a copy that drifts.
import { api } from "./api.js";

let documentPromise = null;

export function openapi() {
  if (!documentPromise) documentPromise = api("/api/v1/openapi.json");
  return documentPromise;
}

export function resolve(doc, schema) {
  let s = schema;
  while (s?.$ref) s = doc.components.schemas[s.$ref.split("/").pop()];
  return s;
}

// The JSON schema of a POST route's body, e.g. requestSchema(doc, "/api/v1/backtests").
export function requestSchema(doc, path) {
  return resolve(doc, doc.paths[path].post.requestBody.content["application/json"].schema);
}

// The values of an enum property of a component, e.g. enumOf(doc, "BacktestView", "status").
export function enumOf(doc, component, property) {
  const prop = resolve(doc, doc.components.schemas[component]?.properties?.[property]) || {};
  if (prop.enum) return prop.enum;
  const variant = (prop.anyOf || []).map((v) => resolve(doc, v)).find((v) => v.enum);
  return variant ? variant.enum : [];
}

// A metric's meaning, from the Metrics schema's descriptions.
export function metricHints(doc) {
  const props = doc.components.schemas.Metrics?.properties || {};
  return Object.fromEntries(Object.entries(props).map(([k, p]) => [k, p.description || ""]));
}
