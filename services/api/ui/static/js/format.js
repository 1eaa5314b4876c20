// Numbers formatted for people, by what the value is: fractions (returns, drawdowns, rates, win
// rates) as percentages, money with thousands separators, ratios with two decimals; the raw
// values stay in the JSON. Nothing here ever prints undefined, null, NaN or [object Object].

// Fractions shown as percentages (0.0123 -> 1.23 %).
export const PERCENT_KEYS = new Set([
  "total_return",
  "cagr",
  "max_drawdown",
  "win_rate",
  "avg_trade_return",
  "exposure",
  "return",
  "equity_return",
  "mae",
  "mfe",
  "benchmark_return",
  "prob_loss",
  "pbo",
  "dsr",
  "psr",
  "prob_oos_loss",
  "position_size",
  "stop_loss",
  "take_profit",
  "trailing_stop",
  "fee_rate",
  "maker_fee_rate",
  "maintenance_margin_rate",
  "drawdown",
  "test_return",
  "offset",
  "risk",
]);
// Amounts of the account's currency.
export const MONEY_KEYS = new Set([
  "final_equity",
  "fees_paid",
  "funding_paid",
  "pnl",
  "fees",
  "funding",
  "initial_capital",
  "long_pnl",
  "short_pnl",
  "equity",
  "p5",
  "p25",
  "p50",
  "p75",
  "p95",
]);
// Prices and quantities: as many significant digits as they carry, grouped.
const PRICE_KEYS = new Set(["entry_price", "exit_price", "qty", "open", "high", "low", "close"]);

const MINUS = "−";
const grouped = (v, options) => v.toLocaleString("en-US", options).replace("-", MINUS);
// A formatted zero never carries a sign ("-0", "-0.00 %").
const unsigned = (s) => (/^−0([.,]0*)?( %)?$/.test(s) ? s.slice(1) : s);

export function percent(v) {
  const p = v * 100;
  const a = Math.abs(p);
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : a >= 0.1 || a === 0 ? 2 : 3;
  return unsigned(`${grouped(p, { minimumFractionDigits: digits, maximumFractionDigits: digits })} %`);
}

export function money(v) {
  return unsigned(grouped(v, { minimumFractionDigits: 2, maximumFractionDigits: 2 }));
}

export function ratio(v) {
  const a = Math.abs(v);
  const digits = a >= 100 ? 0 : a >= 1 ? 2 : 3;
  return unsigned(grouped(v, { minimumFractionDigits: digits, maximumFractionDigits: digits }));
}

function plainNumber(key, v) {
  if (!Number.isFinite(v)) return "—";
  if (PERCENT_KEYS.has(key)) return percent(v);
  if (MONEY_KEYS.has(key)) return money(v);
  if (PRICE_KEYS.has(key)) return unsigned(grouped(v, { maximumSignificantDigits: 7 }));
  if (Number.isInteger(v)) return grouped(v, { maximumFractionDigits: 0 });
  return ratio(v);
}

// Any value a resource holds, for people: `key` says what it is (a metric or field name).
export function formatValue(key, v) {
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "number") return plainNumber(key, v);
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (Array.isArray(v)) return v.length ? v.map((x) => formatValue(key, x)).join(", ") : "—";
  if (typeof v === "object") {
    if (typeof v.atr === "number" && Object.keys(v).length === 1) return `${ratio(v.atr)} × ATR`;
    const shown = (k, x) => (Array.isArray(x) ? `[${formatValue(k, x)}]` : formatValue(k, x));
    const parts = Object.entries(v).map(([k, x]) => `${k.replaceAll("_", " ")} ${shown(k, x)}`);
    return parts.length ? parts.join(", ") : "—";
  }
  return String(v);
}

// A parameter set as "fast 10, slow 30, stop loss 2.00 %".
export function formatParams(params) {
  return formatValue("params", params || {});
}

const INTERVAL_NAMES = {
  1: "1m",
  3: "3m",
  5: "5m",
  15: "15m",
  30: "30m",
  60: "1h",
  120: "2h",
  240: "4h",
  360: "6h",
  720: "12h",
  D: "1d",
  W: "1w",
  M: "1M",
};
export const intervalName = (interval) => INTERVAL_NAMES[interval] || String(interval ?? "—");

const DIRECTIONS = { long_only: "long only", short_only: "short only", long_short: "long & short" };

// The settings that change a result, in a few words: "10× · long & short · SL 2.00 % · TS 3 × ATR".
export function setupWords(request) {
  const r = request || {};
  const words = [];
  if (r.leverage != null && r.leverage !== 1) words.push(`${ratio(r.leverage).replace(/\.00$/, "")}×`);
  if (r.direction) words.push(DIRECTIONS[r.direction] || r.direction);
  for (const [key, short] of [
    ["stop_loss", "SL"],
    ["take_profit", "TP"],
    ["trailing_stop", "TS"],
  ]) {
    if (r[key] != null) words.push(`${short} ${formatValue(key, r[key])}`);
  }
  if (r.position_size != null && r.position_size !== 1) words.push(`size ${percent(r.position_size)}`);
  return words.join(" · ");
}

// What a job ran: its strategy's name, symbol(s) and interval.
export function strategyName(job) {
  const s = job.request?.strategy || job.request?.backtest?.strategy || {};
  return job.strategy_name || s.name || s.definition?.name || (s.definition ? "expression" : "—");
}

export function symbolsOf(request) {
  const r = request?.backtest || request || {};
  if (Array.isArray(r.symbols) && r.symbols.length) {
    return r.symbols.length > 3
      ? `${r.symbols.slice(0, 3).join(", ")} +${r.symbols.length - 3}`
      : r.symbols.join(", ");
  }
  return r.symbol || "—";
}

export function jobTitle(job) {
  const r = job.request?.backtest || job.request || {};
  return `${strategyName(job)} · ${symbolsOf(job.request)} · ${intervalName(r.interval)}`;
}
