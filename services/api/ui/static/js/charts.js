// Charts: lightweight-charts for candles with trade markers, uPlot for lines, ECharts for heatmaps.
const live = [];

export function disposeCharts() {
  while (live.length) live.pop()();
}

const seconds = (iso) => Math.floor(Date.parse(iso) / 1000);

// Candles loaded a window (one API page) at a time: earlier pages as the user pans left.
export async function candleChart(el, loadPage, trades) {
  const chart = LightweightCharts.createChart(el, {
    autoSize: true, timeScale: { timeVisible: true }, layout: { attributionLogo: true },
  });
  live.push(() => chart.remove());
  const series = chart.addCandlestickSeries();
  let bars = [];
  let loading = false;
  let exhausted = false;
  const markers = [];
  for (const t of trades) {
    const long = t.side === "long";
    markers.push({ time: seconds(t.entry_time), position: long ? "belowBar" : "aboveBar",
      color: long ? "#1a7f37" : "#c62828", shape: long ? "arrowUp" : "arrowDown", text: "entry" });
    if (t.exit_time) markers.push({ time: seconds(t.exit_time), position: long ? "aboveBar" : "belowBar",
      color: "#555", shape: "circle", text: t.exit_reason || "exit" });
  }
  markers.sort((a, b) => a.time - b.time);
  el.dataset.markedTrades = String(trades.length);
  async function more() {
    if (loading || exhausted) return;
    loading = true;
    const page = await loadPage(bars.length ? bars[0].time : null);
    const fresh = page.filter((b) => !bars.length || b.time < bars[0].time);
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
  return chart;
}

export function lineChart(el, title, times, seriesList, { height = 260 } = {}) {
  const opts = {
    title, width: el.clientWidth || 900, height,
    series: [{}, ...seriesList.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, fill: s.fill }))],
    axes: [{}, { size: 70 }],
  };
  const plot = new uPlot(opts, [times, ...seriesList.map((s) => s.values)], el);
  live.push(() => plot.destroy());
  return plot;
}

export const PALETTE = ["#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f"];

// A heatmap of one metric over two parameters: `cells` maps "x|y" to a value; greener is
// better (`lower`: the lower value is better).
export function heatmapChart(el, xName, yName, xs, ys, cells, lower) {
  const data = [];
  xs.forEach((x, i) => ys.forEach((y, j) => {
    const v = cells.get(`${x}|${y}`);
    if (v != null) data.push([i, j, v]);
  }));
  el.dataset.cells = String(data.length);
  const values = data.map((d) => d[2]);
  const chart = echarts.init(el, null, { renderer: "canvas", height: 60 + 28 * ys.length });
  live.push(() => { if (!chart.isDisposed()) chart.dispose(); });
  const colors = ["#c62828", "#fdd835", "#2e7d32"];
  chart.setOption({
    animation: false,
    tooltip: { formatter: (p) => `${xName} ${xs[p.value[0]]}, ${yName} ${ys[p.value[1]]}: ${p.value[2]}` },
    grid: { left: 70, right: 20, top: 10, bottom: 60 },
    xAxis: { type: "category", data: xs.map(String), name: xName, nameLocation: "middle", nameGap: 28 },
    yAxis: { type: "category", data: ys.map(String), name: yName },
    visualMap: {
      min: Math.min(...values), max: Math.max(...values), calculable: true, orient: "horizontal",
      left: "center", bottom: 0, inRange: { color: lower ? [...colors].reverse() : colors },
    },
    series: [{ type: "heatmap", data, label: { show: xs.length * ys.length <= 400, fontSize: 10,
      formatter: (p) => Number(p.value[2]).toPrecision(3) } }],
  });
  return chart;
}
