// Charts: lightweight-charts for candles with trade markers, uPlot for lines, ECharts for
// heatmaps and scatters. Axis and tooltip numbers use the pages' human formats.
import { formatValue } from "./format.js";

const live = [];

export function disposeCharts() {
  while (live.length) live.pop()();
}

const seconds = (iso) => Math.floor(Date.parse(iso) / 1000);

const LINE_COLORS = ["#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#558b2f"];

// Candles loaded a window (one API page) at a time: earlier pages as the user pans left.
// `loadLines(fromSeconds, toSeconds)` answers the strategy's indicators over the same bars
// ({times, items: [{name, pane, values}]}): price-scaled lines on the candles, the others in a
// band below them, each on its own scale.
export async function candleChart(el, loadPage, trades, loadLines = null) {
  const chart = LightweightCharts.createChart(el, {
    autoSize: true,
    timeScale: { timeVisible: true },
    layout: { attributionLogo: true },
  });
  let removed = false;
  const remove = () => {
    if (!removed) chart.remove();
    removed = true;
  };
  live.push(remove);
  const series = chart.addCandlestickSeries();
  let bars = [];
  let loading = false;
  let exhausted = false;
  const markers = [];
  for (const t of trades) {
    const long = t.side === "long";
    markers.push({
      time: seconds(t.entry_time),
      position: long ? "belowBar" : "aboveBar",
      color: long ? "#1a7f37" : "#c62828",
      shape: long ? "arrowUp" : "arrowDown",
      text: "entry",
    });
    if (t.exit_time)
      markers.push({
        time: seconds(t.exit_time),
        position: long ? "aboveBar" : "belowBar",
        color: "#555",
        shape: "circle",
        text: t.exit_reason || "exit",
      });
  }
  markers.sort((a, b) => a.time - b.time);
  el.dataset.markedTrades = String(trades.length);
  const lines = new Map();
  let pendingLines = Promise.resolve();
  async function addLines(from, to) {
    if (!loadLines) return;
    const got = await loadLines(from, to);
    const times = got.times.map(seconds);
    for (const item of got.items) {
      let line = lines.get(item.name);
      if (!line) {
        const lower = item.pane === "lower";
        const drawn = chart.addLineSeries({
          color: LINE_COLORS[lines.size % LINE_COLORS.length],
          lineWidth: 1.5,
          title: item.name,
          priceScaleId: lower ? `lower-${lines.size}` : "right",
          lastValueVisible: false,
          priceLineVisible: false,
        });
        if (lower) {
          drawn.priceScale().applyOptions({ scaleMargins: { top: 0.78, bottom: 0.02 } });
          series.priceScale().applyOptions({ scaleMargins: { top: 0.05, bottom: 0.28 } });
        }
        line = { drawn, data: [], pane: item.pane };
        lines.set(item.name, line);
      }
      const first = line.data.length ? line.data[0].time : Number.POSITIVE_INFINITY;
      const fresh = [];
      item.values.forEach((v, j) => {
        if (v != null && times[j] < first) fresh.push({ time: times[j], value: v });
      });
      line.data = fresh.concat(line.data);
      line.drawn.setData(line.data);
    }
    el.dataset.indicators = [...lines].map(([name, l]) => `${l.pane}:${name}`).join("|");
  }
  async function more() {
    if (loading || exhausted) return;
    loading = true;
    const page = await loadPage(bars.length ? bars[0].time : null);
    const fresh = page.filter((b) => !bars.length || b.time < bars[0].time);
    // The lines follow the candles page by page, in order, without holding up the candles.
    if (fresh.length) {
      const [from, to] = [fresh[0].time, fresh[fresh.length - 1].time];
      pendingLines = pendingLines.then(() => addLines(from, to)).catch(() => {});
    }
    if (!fresh.length) exhausted = true;
    bars = fresh.concat(bars);
    series.setData(bars);
    const first = bars.length ? bars[0].time : 0;
    series.setMarkers(markers.filter((m) => m.time >= first));
    loading = false;
  }
  await more();
  chart.timeScale().subscribeVisibleLogicalRangeChange((range) => {
    if (range && range.from < 20) more();
  });
  chart.timeScale().subscribeVisibleTimeRangeChange((range) => {
    if (!range) return;
    el.dataset.visibleFrom = String(range.from);
    el.dataset.visibleTo = String(range.to);
  });
  // Centre the chart on [from, to] (seconds), loading earlier candles until they are there.
  const centreOn = async (from, to) => {
    while (!exhausted && bars.length && bars[0].time > from) await more();
    const step = bars.length > 1 ? bars[1].time - bars[0].time : 60;
    const half = Math.max((to - from) / 2, 0) + 40 * step;
    const middle = (from + to) / 2;
    el.dataset.centre = String(middle);
    chart.timeScale().setVisibleRange({ from: middle - half, to: middle + half });
  };
  return { chart, centreOn, remove };
}

// Lines over time; `key` names what the values are, for their format (equity, drawdown, ...).
export function lineChart(el, title, times, seriesList, { height = 260, key = "equity" } = {}) {
  const shown = (v) => (v == null ? "—" : formatValue(key, v));
  const opts = {
    title,
    width: Math.max(300, (el.clientWidth || 900) - 16),
    height,
    series: [
      {},
      ...seriesList.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 1.5,
        fill: s.fill,
        value: (_u, v) => shown(v),
      })),
    ],
    axes: [{}, { size: 80, values: (_u, splits) => splits.map(shown) }],
  };
  const plot = new uPlot(opts, [times, ...seriesList.map((s) => s.values)], el);
  live.push(() => plot.destroy());
  return plot;
}

export const PALETTE = ["#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f"];

// A heatmap of one metric over two parameters: axis {name, values, keys}; `cells` maps
// "xkey|ykey" to a value; greener is better (`lower`: the lower value is better). Labels,
// tooltip and legend in the human format of the parameter or the metric.
export function heatmapChart(el, x, y, cells, { lower = false, metric = "value" } = {}) {
  const data = [];
  x.keys.forEach((xk, i) => {
    y.keys.forEach((yk, j) => {
      const v = cells.get(`${xk}|${yk}`);
      if (v != null) data.push([i, j, v]);
    });
  });
  el.dataset.cells = String(data.length);
  const values = data.map((d) => d[2]);
  const chart = echarts.init(el, null, { renderer: "canvas", height: 90 + 28 * Math.max(y.keys.length, 3) });
  live.push(() => {
    if (!chart.isDisposed()) chart.dispose();
  });
  const colors = ["#c62828", "#fdd835", "#2e7d32"];
  const xText = x.values.map((v) => formatValue(x.name, v));
  const yText = y.name ? y.values.map((v) => formatValue(y.name, v)) : [metric.replaceAll("_", " ")];
  chart.setOption({
    animation: false,
    tooltip: {
      formatter: (p) =>
        `${x.name} ${xText[p.value[0]]}${y.name ? `, ${y.name} ${yText[p.value[1]]}` : ""}: ${formatValue(metric, p.value[2])}`,
    },
    grid: { left: 90, right: 20, top: 10, bottom: 80 },
    xAxis: { type: "category", data: xText, name: x.name, nameLocation: "middle", nameGap: 24 },
    yAxis: { type: "category", data: yText, name: y.name },
    visualMap: {
      min: values.length ? Math.min(...values) : 0,
      max: values.length ? Math.max(...values) : 1,
      calculable: true,
      orient: "horizontal",
      left: "center",
      bottom: 0,
      inRange: { color: lower ? [...colors].reverse() : colors },
      formatter: (v) => formatValue(metric, v),
    },
    series: [
      {
        type: "heatmap",
        data,
        label: {
          show: x.keys.length * y.keys.length <= 400,
          fontSize: 10,
          formatter: (p) => formatValue(metric, p.value[2]),
        },
      },
    ],
  });
  return chart;
}

// Points {x, y, win} as a scatter (e.g. each trade's MAE against its MFE), both axes in the
// human format of `xKey` and `yKey`.
export function scatterChart(el, xKey, yKey, points, { xName = xKey, yName = yKey } = {}) {
  const chart = echarts.init(el, null, { renderer: "canvas", height: 320 });
  live.push(() => {
    if (!chart.isDisposed()) chart.dispose();
  });
  el.dataset.points = String(points.length);
  const axis = (key, name) => ({
    type: "value",
    name,
    nameLocation: "middle",
    nameGap: 32,
    axisLabel: { formatter: (v) => formatValue(key, v) },
  });
  const group = (win) => points.filter((p) => p.win === win).map((p) => [p.x, p.y]);
  chart.setOption({
    animation: false,
    legend: { top: 0 },
    tooltip: {
      formatter: (p) =>
        `${xName} ${formatValue(xKey, p.value[0])}, ${yName} ${formatValue(yKey, p.value[1])}`,
    },
    grid: { left: 70, right: 20, top: 30, bottom: 50 },
    xAxis: axis(xKey, xName),
    yAxis: axis(yKey, yName),
    series: [
      {
        name: "winning trades",
        type: "scatter",
        symbolSize: 6,
        itemStyle: { color: "#2e7d32" },
        data: group(true),
      },
      {
        name: "losing trades",
        type: "scatter",
        symbolSize: 6,
        itemStyle: { color: "#c62828" },
        data: group(false),
      },
    ],
  });
  return chart;
}

// Bars of one value per label (e.g. each symbol's pnl: its contribution to a portfolio),
// positive green and negative red, in the human format of `key`.
export function barChart(el, labels, values, { key = "pnl", name = key } = {}) {
  const chart = echarts.init(el, null, { renderer: "canvas", height: 260 });
  live.push(() => {
    if (!chart.isDisposed()) chart.dispose();
  });
  el.dataset.bars = String(values.length);
  chart.setOption({
    animation: false,
    tooltip: { formatter: (p) => `${p.name}: ${formatValue(key, p.value)}` },
    grid: { left: 80, right: 20, top: 20, bottom: 40 },
    xAxis: { type: "category", data: labels },
    yAxis: { type: "value", name, axisLabel: { formatter: (v) => formatValue(key, v) } },
    series: [
      {
        type: "bar",
        data: values.map((v) => ({
          value: v,
          itemStyle: { color: v >= 0 ? "#2e7d32" : "#c62828" },
        })),
      },
    ],
  });
  return chart;
}
