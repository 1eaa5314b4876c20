// Forms built from the API's request schemas (OpenAPI): every property gets a control by its
// JSON-schema type, so a field added to a request has its control the day it lands. A few
// paths have a control of their own (the strategy with its parameter schema, a grid's ranges);
// everything else is generic: enums as selects, numbers with their bounds, nullable objects as
// fieldsets that are switched on, unions as a choice of variant, free-form values as JSON.
import { ApiError, api } from "./api.js";
import { h, showErrors } from "./dom.js";
import { intervalName, PERCENT_KEYS } from "./format.js";
import { openapi, requestSchema, resolve } from "./schema.js";

// A value a control cannot read; shown beside its field like an API 422.
class FieldError extends ApiError {
  constructor(field, message) {
    super(422, { error: { message, details: [{ field, message }] } });
  }
}

const HINTS = {
  fee_rate: "taker fee per fill, a fraction: 0.00055 = 0.055 % (Bybit's taker)",
  maker_fee_rate: "maker fee for limit fills, a fraction: 0.0002 = 0.02 %",
  slippage_bps: "basis points against each fill: 5 = 0.05 %",
  position_size: "the share of equity staked per entry, in (0, 1]",
  stop_loss: "a fraction of the entry price (0.02 = 2 %) or k × ATR",
  take_profit: "a fraction of the entry price (0.05 = 5 %) or k × ATR",
  trailing_stop: "a fraction below the best price since entry, or k × ATR",
  leverage: "1 to 100 (perpetuals; spot: 1)",
  funding: "default: yes for linear and inverse",
  maintenance_margin_rate: "default: the instrument's lowest-risk tier",
  warmup_bars: "bars before start that only warm the indicators",
  symbols: "a portfolio: symbols separated by commas (instead of symbol)",
};

const labelOf = (name) => name.replaceAll("_", " ");
// An enum value as a select shows it: Bybit's intervals with their usual names ("60 (1h)").
const INTERVAL_FIELDS = new Set(["interval", "fill_detail", "every"]);
const optionText = (name, v) =>
  INTERVAL_FIELDS.has(name) && intervalName(v) !== String(v) ? `${v} (${intervalName(v)})` : String(v);

function variantsOf(doc, schema) {
  const base = resolve(doc, schema) || {};
  const list = base.anyOf || base.oneOf;
  if (!list) return { base, nullable: false, options: [base] };
  const resolved = list.map((v) => resolve(doc, v));
  return {
    base,
    nullable: resolved.some((v) => v.type === "null"),
    options: resolved.filter((v) => v.type !== "null"),
  };
}

// The constant that tells an object variant apart ({"type": "limit"}, {"method": "risk"}).
function discriminator(variant) {
  for (const [k, p] of Object.entries(variant.properties || {}))
    if (p.const !== undefined) return [k, p.const];
  return null;
}

function variantLabel(variant, name) {
  if (variant.const !== undefined) return String(variant.const);
  const d = discriminator(variant);
  if (d) return String(d[1]);
  if (variant.type === "number") return PERCENT_KEYS.has(name) ? "fraction" : "number";
  if (variant.type === "integer") return "number";
  if (variant.enum) return "one of";
  if (variant.type === "object" && variant.properties) {
    const keys = Object.keys(variant.properties);
    return keys.length === 1 ? keys[0] : (variant.title || "object").toLowerCase();
  }
  return variant.type || "value";
}

function matches(variant, value) {
  if (value === null || value === undefined) return false;
  if (variant.const !== undefined) return variant.const === value;
  if (variant.enum) return variant.enum.includes(value);
  if (variant.type === "number") return typeof value === "number";
  if (variant.type === "integer") return Number.isInteger(value);
  if (variant.type === "string") return typeof value === "string";
  if (variant.type === "boolean") return typeof value === "boolean";
  if (variant.type === "array") return Array.isArray(value);
  if (variant.type === "object") {
    if (typeof value !== "object" || Array.isArray(value)) return false;
    const d = discriminator(variant);
    if (d) return value[d[0]] === d[1];
    return Object.keys(value).every((k) => k in (variant.properties || {}));
  }
  return false;
}

function numberFrom(text, integer, path) {
  const n = Number(text);
  if (text.trim() === "" || Number.isNaN(n)) throw new FieldError(path, `not a number: ${text}`);
  return integer && Number.isInteger(n) ? n : n;
}

// One control: {nodes: elements for the form's grid, read(): the value or undefined to omit}.
export function buildField(ctx, schema, path, name, required) {
  const custom = ctx.custom[path];
  const { base, nullable, options } = variantsOf(ctx.doc, schema);
  if (custom) return custom(ctx, base, path, name);
  const initial = path in ctx.initial ? ctx.initial[path] : base.default;
  if (options.length === 1)
    return single(ctx, { ...base, ...options[0] }, path, name, { nullable, initial, required });
  return choice(ctx, options, base, path, name, { nullable, initial });
}

function labelled(path, name, control, hint) {
  return [h("label", { for: `f-${path}`, text: labelOf(name), title: hint || null }), control];
}

function single(ctx, s, path, name, { nullable, initial, required }) {
  const hint = HINTS[name] || s.description || null;
  const common = { name: path, id: `f-${path}`, "data-field": path, title: hint };
  if (s.const !== undefined) {
    return { nodes: [], read: () => s.const };
  }
  if (s.enum) {
    const blank = nullable || (!required && initial === undefined);
    const select = h(
      "select",
      common,
      blank ? h("option", { value: "", text: nullable && initial === null ? "none" : "default" }) : null,
      s.enum.map((v) =>
        h("option", { value: String(v), text: optionText(name, v), selected: v === initial }),
      ),
    );
    return {
      nodes: labelled(path, name, select, hint),
      read: () => (select.value === "" ? undefined : s.enum.find((v) => String(v) === select.value)),
    };
  }
  if (s.type === "boolean") {
    if (nullable) {
      const select = h(
        "select",
        common,
        ["", "yes", "no"].map((v) => h("option", { value: v, text: v || "default" })),
      );
      if (initial === true) select.value = "yes";
      if (initial === false) select.value = "no";
      return {
        nodes: labelled(path, name, select, hint),
        read: () => (select.value ? select.value === "yes" : undefined),
      };
    }
    const box = h("input", { ...common, type: "checkbox", checked: initial === true });
    return { nodes: labelled(path, name, box, hint), read: () => box.checked };
  }
  if (s.type === "number" || s.type === "integer") {
    const input = h("input", {
      ...common,
      type: "number",
      step: s.type === "integer" ? "1" : "any",
      min: s.minimum ?? s.exclusiveMinimum ?? null,
      max: s.maximum ?? s.exclusiveMaximum ?? null,
      value: initial ?? "",
      placeholder: nullable ? "none" : "",
    });
    return {
      nodes: labelled(path, name, input, hint),
      read: () => (input.value === "" ? undefined : numberFrom(input.value, s.type === "integer", path)),
    };
  }
  if (s.type === "string") {
    const input = h("input", {
      ...common,
      value: initial ?? "",
      placeholder: s.format === "date-time" ? "2024-01-01T00:00:00Z" : "",
    });
    return {
      nodes: labelled(path, name, input, hint),
      read: () => (input.value.trim() === "" ? undefined : input.value.trim()),
    };
  }
  if (s.type === "array" && ["string", "number", "integer"].includes(resolve(ctx.doc, s.items)?.type)) {
    const numeric = resolve(ctx.doc, s.items).type !== "string";
    const input = h("input", {
      ...common,
      value: Array.isArray(initial) ? initial.join(", ") : "",
      placeholder: "a, b, c",
    });
    return {
      nodes: labelled(path, name, input, hint),
      read: () => {
        const parts = input.value
          .split(",")
          .map((x) => x.trim())
          .filter(Boolean);
        if (!parts.length) return undefined;
        return numeric ? parts.map((x) => numberFrom(x, false, path)) : parts;
      },
    };
  }
  if (s.type === "object" && s.properties)
    return objectField(ctx, s, path, name, { nullable: nullable || (!required && initial == null), initial });
  // Free-form (a mapping, a list of objects): JSON.
  const area = h("textarea", { ...common, class: "json", rows: 3, placeholder: "JSON" });
  if (initial != null) area.value = JSON.stringify(initial);
  return {
    nodes: labelled(path, name, area, hint),
    read: () => {
      if (area.value.trim() === "") return undefined;
      try {
        return JSON.parse(area.value);
      } catch (e) {
        throw new FieldError(path, `not JSON: ${e.message}`);
      }
    },
  };
}

// The properties of an object; a nullable one is switched on by its checkbox.
function objectField(ctx, s, path, name, { nullable, initial }) {
  const required = new Set(s.required || []);
  const children = Object.entries(s.properties).map(([k, p]) => {
    const childPath = path ? `${path}.${k}` : k;
    const saved = ctx.initial;
    if (initial && typeof initial === "object" && initial[k] !== undefined && !(childPath in saved)) {
      ctx.initial = { ...saved, [childPath]: initial[k] };
    }
    const field = buildField(ctx, p, childPath, k, required.has(k));
    ctx.initial = saved;
    return field;
  });
  const inner = h(
    "div",
    { class: "sub-grid" },
    children.flatMap((c) => c.nodes),
  );
  const on = h("input", { type: "checkbox", name: `${path}:on`, checked: !nullable || initial != null });
  const set = h(
    "fieldset",
    { class: "sub", "data-field": path },
    h("legend", {}, nullable ? h("label", {}, on, ` ${labelOf(name)}`) : labelOf(name)),
    inner,
  );
  if (s.description) set.title = s.description;
  const toggle = () => {
    inner.hidden = !on.checked;
  };
  on.addEventListener("change", toggle);
  set.switchOn = () => {
    on.checked = true;
    toggle();
  };
  toggle();
  return {
    nodes: [set],
    read: () => {
      if (!on.checked) return undefined;
      const out = {};
      Object.keys(s.properties).forEach((k, i) => {
        const v = children[i].read();
        if (v !== undefined) out[k] = v;
      });
      return out;
    },
  };
}

// A union (a fraction or k × ATR; "market" or a limit order; a number of bars or "auto").
function choice(ctx, options, base, path, name, { nullable, initial }) {
  const hint = HINTS[name] || base.description || null;
  const select = h("select", { name: `${path}:kind`, id: `f-${path}`, "data-field": path, title: hint });
  if (nullable) select.append(h("option", { value: "", text: "none" }));
  const parts = options.map((variant, i) => {
    select.append(h("option", { value: String(i), text: variantLabel(variant, name) }));
    const start = matches(variant, initial) ? initial : undefined;
    const saved = ctx.initial;
    ctx.initial = { ...saved, [path]: start };
    const field = single(ctx, variant, path, name, { nullable: false, initial: start, required: true });
    ctx.initial = saved;
    const control = field.nodes.length ? field.nodes[field.nodes.length - 1] : null;
    if (control) control.removeAttribute("data-field");
    return { field, box: h("span", { class: "variant" }, control) };
  });
  const picked = options.findIndex((v) => matches(v, initial));
  select.value = picked >= 0 ? String(picked) : nullable ? "" : "0";
  const show = () => {
    parts.forEach((p, i) => {
      p.box.hidden = select.value !== String(i);
    });
  };
  select.addEventListener("change", show);
  show();
  return {
    nodes: labelled(
      path,
      name,
      h(
        "div",
        { class: "choice" },
        select,
        parts.map((p) => p.box),
      ),
      hint,
    ),
    read: () => (select.value === "" ? undefined : parts[Number(select.value)].field.read()),
  };
}

// --- controls of their own -----------------------------------------------------------------

// The strategy: a select of every available strategy, its parameters from its schema.
export function strategyControl(ctx, _schema, path) {
  const select = h(
    "select",
    { name: "strategy", id: `f-${path}`, "data-field": path },
    ctx.strategies.map((s) => h("option", { value: s.name, text: `${s.name} (${s.kind})` })),
  );
  const paramsBox = h("div", { class: "params", "data-field": `${path}.params` });
  const drawParams = () => {
    paramsBox.innerHTML = "";
    const s = ctx.strategies.find((x) => x.name === select.value);
    ctx.strategy = s;
    const schema = s && Array.isArray(s.params) ? s.params : [];
    for (const p of schema) {
      const attrs = { type: "number", step: p.type === "int" ? "1" : "any", title: p.description || null };
      if (p.minimum != null) attrs.min = p.minimum;
      if (p.maximum != null) attrs.max = p.maximum;
      paramsBox.append(
        h(
          "span",
          { class: "param" },
          h("label", { text: `${p.name} ` }),
          h("input", {
            name: `param:${p.name}`,
            value: p.default,
            "data-field": `${path}.params.${p.name}`,
            "data-type": p.type,
            ...attrs,
          }),
        ),
      );
    }
    for (const fn of ctx.onStrategy) fn(s);
  };
  select.addEventListener("change", drawParams);
  ctx.afterBuild.push(drawParams);
  return {
    nodes: [h("label", { for: `f-${path}`, text: "strategy" }), h("div", {}, select, paramsBox)],
    read: () => {
      const params = {};
      for (const el of paramsBox.querySelectorAll("input")) {
        const n = Number(el.value);
        params[el.name.slice(6)] = el.value === "" || Number.isNaN(n) ? el.value : n;
      }
      return { name: select.value, params };
    },
  };
}

// The backtest fields an optimization may vary beside the strategy's parameters (those the
// backtest request has; `max_positions` where portfolios are).
const EXECUTION_FIELDS = [
  "stop_loss",
  "take_profit",
  "trailing_stop",
  "position_size",
  "leverage",
  "max_bars_in_trade",
];

function variedNames(ctx) {
  const backtest = resolve(ctx.doc, ctx.schema.properties.backtest);
  const fields = EXECUTION_FIELDS.filter((f) => f in (backtest.properties || {}));
  if ("portfolio" in (backtest.properties || {})) fields.push("max_positions");
  const params =
    ctx.strategy && Array.isArray(ctx.strategy.params) ? ctx.strategy.params.map((p) => p.name) : [];
  return [...params, ...fields];
}

function token(text, path) {
  const t = text.trim();
  const atr = t.match(/^([\d.]+)\s*(x|×)?\s*atr$/i) || t.match(/^atr\s*[:=]?\s*([\d.]+)$/i);
  if (atr) return { atr: Number(atr[1]) };
  const n = Number(t);
  if (t === "" || Number.isNaN(n)) throw new FieldError(path, `not a number: ${text}`);
  return n;
}

// Rows of "name: values" for a grid ("5, 10, 20" or a range "5:50:5") or a bayes space
// ("2:50", "0.5:4:0.1", "0.01:0.2 log", or a list "50, 100, 200").
function rangesControl(kind) {
  return (ctx, schema, path) => {
    const box = h("div", { class: "ranges", "data-field": path });
    const draw = () => {
      const kept = Object.fromEntries([...box.querySelectorAll("input")].map((i) => [i.name, i.value]));
      box.innerHTML = "";
      for (const n of variedNames(ctx)) {
        const key = `${kind}:${n}`;
        const input = h("input", {
          name: key,
          "data-field": `${path}.${n}`,
          value: kept[key] ?? "",
          placeholder: kind === "grid" ? "5, 10, 20 or 5:50:5" : "low:high[:step] [log] or a, b",
        });
        box.append(h("span", { class: "param" }, h("label", { text: `${n} ` }), input));
      }
    };
    ctx.onStrategy.push(draw);
    const read = () => {
      const out = {};
      for (const input of box.querySelectorAll("input")) {
        const text = input.value.trim();
        if (!text) continue;
        const name = input.name.split(":")[1];
        const field = `${path}.${name}`;
        const [body, flag] = text.split(/\s+(?=log$)/);
        if (body.includes(":")) {
          const [a, b, c] = body.split(":").map((x) => token(x, field));
          if (kind === "grid") out[name] = { start: a, stop: b, step: c ?? 1 };
          else
            out[name] = {
              low: a,
              high: b,
              ...(c !== undefined ? { step: c } : {}),
              ...(flag ? { log: true } : {}),
            };
        } else out[name] = body.split(",").map((x) => token(x, field));
      }
      return Object.keys(out).length ? out : undefined;
    };
    return { nodes: [h("label", { text: labelOf(path), title: schema.description || null }), box], read };
  };
}
export const gridControl = rangesControl("grid");
export const spaceControl = rangesControl("space");

// A whole request form: `path` is the POST route whose body schema it follows;
// `transform(body)`: a last change before sending (a portfolio's symbols replace the symbol).
export async function schemaForm({
  id,
  path,
  custom = {},
  initial = {},
  submit,
  visibility = {},
  onCreated,
  transform = (body) => body,
}) {
  const [doc, strategies] = await Promise.all([openapi(), api("/api/v1/strategies")]);
  const schema = requestSchema(doc, path);
  const ctx = {
    doc,
    schema,
    custom,
    initial,
    strategies: strategies.items.filter((s) => s.available !== false),
    strategy: null,
    onStrategy: [],
    afterBuild: [],
  };
  const form = h("form", { class: "grid", id, novalidate: true });
  const required = new Set(schema.required || []);
  const fields = Object.entries(schema.properties).map(([k, p]) => {
    const field = buildField(ctx, p, k, k, required.has(k));
    for (const node of field.nodes) node.dataset.row = k;
    return [k, field];
  });
  form.append(
    ...fields.flatMap(([, f]) => f.nodes),
    h("div", { class: "submit-row" }, h("button", { type: "submit", text: submit })),
  );
  const shown = (k) => !form.querySelector(`[data-row="${k}"]`)?.hidden;
  const applyVisibility = () => {
    for (const [k, when] of Object.entries(visibility)) {
      for (const node of form.querySelectorAll(`[data-row="${k}"]`)) node.hidden = !when(form);
    }
  };
  form.addEventListener("change", applyVisibility);
  for (const fn of ctx.afterBuild) fn();
  applyVisibility();
  form.readRequest = () => {
    const body = {};
    for (const [k, f] of fields) {
      if (!shown(k)) continue;
      const v = f.read();
      if (v !== undefined) body[k] = v;
    }
    return body;
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const created = await api(path, { method: "POST", body: transform(form.readRequest()) });
      onCreated(created);
    } catch (err) {
      showErrors(form, err);
    }
  });
  return form;
}

// A portfolio's `symbols` stand instead of the single `symbol` the form starts with.
export function symbolsReplaceSymbol(backtest) {
  if (backtest && Array.isArray(backtest.symbols) && backtest.symbols.length) delete backtest.symbol;
  return backtest;
}
