// Small DOM helpers shared by the pages: elements, tables (sortable, paged), copyable values,
// live job rows and errors shown beside the fields they name.
import { ApiError } from "./api.js";
import { onJobEvent } from "./events.js";
import { formatValue } from "./format.js";

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null) el.append(c instanceof Node ? c : String(c));
  return el;
}

export const when = (iso) => (iso ? iso.replace("T", " ").replace(/(:00)?(\.\d+)?(Z|\+00:00)$/, "") : "—");
export const statusCell = (s) => h("td", { class: `status status-${s}`, text: s });

// A long value (a hash, an id) shown short, whole in its title, with a button that copies it.
export function copyable(value, shown = 10) {
  const text = String(value ?? "—");
  const button = h("button", { type: "button", class: "copy", title: `copy ${text}`, text: "copy" });
  button.addEventListener("click", () => navigator.clipboard?.writeText(text));
  return h(
    "span",
    { class: "copyable" },
    h("code", { title: text, text: text.length > shown ? `${text.slice(0, shown)}…` : text }),
    button,
  );
}

// A table of `rows`: each column {title, key?, value(row), cell?(row), sort?(row)}; values are
// formatted by their key (percentages, money, ...). Sortable by a click on a heading; paged
// `pageSize` rows at a time. `order` = {column, descending} sorts from the start.
export function table(columns, rows, { sortable = false, pageSize = 0, order = null, id = null } = {}) {
  const t = h("table");
  const head = h("tr");
  const body = h("tbody");
  let sortKey = order ? order.column : null;
  let descending = order ? order.descending !== false : true;
  let page = 0;
  const pager = h("div", { class: "pager" });
  const sortValue = (col, row) => (col.sort ? col.sort(row) : col.value(row));
  const sortedRows = () => {
    if (sortKey == null) return rows;
    const col = columns[sortKey];
    return [...rows].sort((a, b) => {
      const x = sortValue(col, a);
      const y = sortValue(col, b);
      if (x == null && y == null) return 0;
      if (x == null) return 1;
      if (y == null) return -1;
      const c = x < y ? -1 : x > y ? 1 : 0;
      return descending ? -c : c;
    });
  };
  const fill = () => {
    body.innerHTML = "";
    const sorted = sortedRows();
    const pages = pageSize ? Math.max(1, Math.ceil(sorted.length / pageSize)) : 1;
    page = Math.min(page, pages - 1);
    const shown = pageSize ? sorted.slice(page * pageSize, (page + 1) * pageSize) : sorted;
    for (const row of shown) {
      const tr = h("tr");
      for (const col of columns) {
        if (col.cell) {
          tr.append(col.cell(row));
          continue;
        }
        const v = col.value(row);
        tr.append(h("td", { class: typeof v === "number" ? "num" : null, text: formatValue(col.key, v) }));
      }
      if (columns.rowAttrs) columns.rowAttrs(tr, row);
      body.append(tr);
    }
    pager.innerHTML = "";
    if (pages > 1) {
      const go = (p) => () => {
        page = p;
        fill();
      };
      pager.append(
        h("button", {
          type: "button",
          class: "prev",
          disabled: page === 0,
          onclick: go(page - 1),
          text: "‹ previous",
        }),
        ` page ${page + 1} of ${pages} (${sorted.length} rows) `,
        h("button", {
          type: "button",
          class: "next",
          disabled: page === pages - 1,
          onclick: go(page + 1),
          text: "next ›",
        }),
      );
    }
  };
  columns.forEach((col, i) => {
    const th = h("th", { class: sortable ? "sortable" : null, text: col.title, title: col.hint || null });
    if (sortable)
      th.addEventListener("click", () => {
        descending = sortKey === i ? !descending : true;
        sortKey = i;
        page = 0;
        fill();
      });
    head.append(th);
  });
  t.append(h("thead", {}, head), body);
  fill();
  return h("div", { class: "table-wrap", id }, t, pager);
}

// Follow job rows: any element with data-job=<id> gets its .status cell updated live.
export function followRows(root) {
  onJobEvent((e) => {
    for (const row of root.querySelectorAll(`[data-job="${e.id}"]`)) {
      const cell = row.querySelector(".status");
      if (cell) {
        cell.textContent = e.status;
        cell.className = `status status-${e.status}`;
      }
    }
  });
}

// One job's events, listened to before its page reads it: those that arrive while the page is
// still drawing are handed over once it is ready, so no change falls between read and listen.
export function jobEvents(id) {
  const early = [];
  let handler = null;
  onJobEvent((e) => {
    if (e.id !== id) return;
    if (handler) handler(e);
    else early.push(e);
  });
  return (fn) => {
    handler = fn;
    for (const e of early.splice(0)) fn(e);
  };
}

export const TERMINAL = ["succeeded", "failed", "cancelled"];

// A job not listed yet (just submitted elsewhere): list again, once per job.
export function onNewJob(root, wanted, reload) {
  const tried = new Set();
  onJobEvent((e) => {
    if (!wanted(e) || tried.has(e.id) || root.querySelector(`[data-job="${e.id}"]`)) return;
    tried.add(e.id);
    reload();
  });
}

// Errors from the API beside the field they name (its `details`), else at the form's foot.
export function showErrors(form, error) {
  for (const el of form.querySelectorAll(".field-error, .form-error")) el.remove();
  const details =
    error instanceof ApiError && error.details.length
      ? error.details
      : [{ field: "", message: error.message }];
  for (const d of details) {
    const field = d.field || "";
    let target = null;
    for (const el of form.querySelectorAll("[data-field]")) {
      const name = el.dataset.field;
      if (field === name || field.startsWith(`${name}.`) || field.startsWith(`${name}[`)) {
        if (!target || name.length > target.dataset.field.length) target = el;
      }
    }
    const message = h("span", {
      class: target ? "field-error" : "form-error",
      "data-error-for": field,
      text: `${field ? `${field}: ` : ""}${d.message}`,
    });
    if (target) target.after(message);
    else form.append(message);
  }
}

export function row(label, input, hint = null) {
  return [h("label", { text: label, title: hint }), h("div", {}, input)];
}

// A metric grid: label above a human-formatted value, the metric's meaning in its title.
// `as`: one format for every value (e.g. "count"), else each by its own key.
export function metricsGrid(metrics, { id = null, labels = {}, hints = {}, as = null } = {}) {
  return h(
    "div",
    { class: "metrics", id },
    Object.entries(metrics || {})
      .filter(([, v]) => v === null || typeof v !== "object")
      .map(([k, v]) =>
        h(
          "div",
          { "data-metric": k, title: hints[k] || null },
          h("span", { class: "muted", text: labels[k] || k.replaceAll("_", " ") }),
          h("b", { text: formatValue(as || k, v) }),
        ),
      ),
  );
}
