// /strategies: every strategy with its parameters, and an editor for expression strategies
// that takes JSON or YAML and shows a validation error where it is.
import { ApiError, api } from "../api.js";
import { h, row, showErrors, table } from "../dom.js";
import { navigate } from "../nav.js";

const EXAMPLE_DEFINITION = `# JSON or YAML
params:
  fast: {type: int, default: 10, minimum: 1, maximum: 500}
  slow: {type: int, default: 30, minimum: 2, maximum: 2000}
rules: ["fast < slow"]
long_entry: "sma(close, fast) > sma(close, slow)"
short_entry: "sma(close, fast) < sma(close, slow)"
`;

const paramText = (p) => {
  const bounds = p.minimum != null || p.maximum != null ? ` [${p.minimum ?? "…"}, ${p.maximum ?? "…"}]` : "";
  return `${p.name} = ${p.default}${bounds}`;
};

// What a strategy does: its description, else an expression's entry rule, else a plugin's error.
const describe = (s) =>
  s.description ||
  (s.definition?.long_entry ? `long when ${s.definition.long_entry}` : null) ||
  s.error ||
  "—";

// The editor's text as a definition: JSON when it parses as JSON, else YAML.
export function parseDefinition(text) {
  try {
    return JSON.parse(text);
  } catch {
    return jsyaml.load(text);
  }
}

export async function strategies(app) {
  app.append(h("h1", { text: "Strategies" }));
  const list = await api("/api/v1/strategies");
  const cols = [
    { title: "name", value: (s) => s.name },
    { title: "kind", value: (s) => s.kind },
    {
      title: "parameters",
      value: (s) =>
        Array.isArray(s.params)
          ? s.params.map(paramText).join(", ")
          : Object.entries(s.params || {})
              .map(([k, v]) => `${k} = ${v}`)
              .join(", "),
      cell: (s) =>
        h("td", {
          class: "wrap",
          text: Array.isArray(s.params)
            ? s.params.map(paramText).join(", ") || "—"
            : Object.entries(s.params || {})
                .map(([k, v]) => `${k} = ${v}`)
                .join(", ") || "—",
        }),
    },
    {
      title: "description",
      value: (s) => describe(s),
      cell: (s) => h("td", { class: "wrap", text: describe(s) }),
    },
  ];
  app.append(h("div", { id: "strategy-list" }, table(cols, list.items)));
  const form = h("form", { class: "grid narrow", id: "expression-form", novalidate: true });
  const editor = h("textarea", { name: "definition", "data-field": "definition", spellcheck: "false" });
  editor.value = EXAMPLE_DEFINITION;
  form.append(
    ...row("name", h("input", { name: "name", "data-field": "name", value: "my_cross" })),
    ...row("description", h("input", { name: "description", "data-field": "description" })),
    ...row("definition (JSON or YAML)", editor),
    h("div"),
    h("button", { text: "Save" }),
  );
  app.append(h("h2", { text: "Expression strategy" }), form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    let definition;
    try {
      definition = parseDefinition(editor.value);
      if (!definition || typeof definition !== "object" || Array.isArray(definition))
        throw new Error("not a mapping of fields");
    } catch (err) {
      const message = `neither JSON nor YAML: ${err.message}`;
      showErrors(
        form,
        new ApiError(422, { error: { message, details: [{ field: "definition", message }] } }),
      );
      return;
    }
    try {
      await api("/api/v1/strategies", {
        method: "POST",
        body: { name: form.name.value, description: form.description.value || null, definition },
      });
      navigate("/strategies");
    } catch (err) {
      showErrors(form, err);
      markExpressionError(editor, err);
    }
  });
}

// Select the spot an expression error names ("definition.long_entry ... (column 9)") in the
// editor's text (JSON or YAML), so the user sees where it is, not only what.
function markExpressionError(editor, error) {
  const detail = (error.details || []).find((d) => /^definition\.\w+$/.test(d.field || ""));
  if (!detail) return;
  const key = detail.field.split(".")[1];
  const column = Number((detail.message.match(/column (\d+)/) || [])[1] || 1);
  const found = editor.value.match(new RegExp(`"?${key}"?\\s*:\\s*(["']?)`));
  if (!found) return;
  const start = found.index + found[0].length + column - 1;
  editor.focus();
  editor.setSelectionRange(start, start + 1);
  editor.dataset.errorAt = String(start);
}
