// A small SVG line chart of a point's values over time: one line per output through the clear
// dates, a cloud marker on cloudy dates, the chosen date as a vertical line.

const NS = "http://www.w3.org/2000/svg";
export const LINE_COLOURS = ["#1565c0", "#c2185b", "#ef6c00", "#6a1b9a"];
const CLOUD_COLOUR = "#8c8c8c";
const MARGIN = { left: 46, right: 14, top: 18, bottom: 24 };
const DAY_MS = 86_400_000;
const MAX_DATE_LABELS = 7;
const NAMES_WIDTH = 36;

function add(parent, name, attributes = {}, content = "") {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (content) node.textContent = content;
  parent.append(node);
  return node;
}

function niceStep(span, count) {
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

function valueDomain(values) {
  if (!values.length) return { lo: 0, hi: 1, step: 0.25 };
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (hi - lo < 1e-9) {
    const pad = Math.max(Math.abs(lo) * 0.05, 0.05);
    lo -= pad;
    hi += pad;
  }
  const step = niceStep(hi - lo, 4);
  return { lo: Math.floor(lo / step) * step, hi: Math.ceil(hi / step) * step, step };
}

function timeDomain(times) {
  let start = Math.min(...times);
  let end = Math.max(...times);
  const pad = start === end ? 5 * DAY_MS : (end - start) * 0.04;
  start -= pad;
  end += pad;
  return { start, end };
}

function label(value, step) {
  const digits = Math.max(0, Math.min(4, -Math.floor(Math.log10(step))));
  return value.toFixed(digits);
}

function cloudGlyph(parent, x, y) {
  const group = add(parent, "g", { fill: CLOUD_COLOUR });
  add(group, "circle", { cx: x - 4, cy: y + 1, r: 3.5 });
  add(group, "circle", { cx: x + 1, cy: y - 2, r: 4.5 });
  add(group, "circle", { cx: x + 5, cy: y + 1, r: 3.5 });
  add(group, "rect", { x: x - 4, y: y + 1, width: 9, height: 3.5 });
  return group;
}

// Draws `series` ({names, points: [{date, values, cloudy}]}) into `svg`.
export function drawChart(svg, series, { chosen = "", onPick = () => {} } = {}) {
  const width = svg.clientWidth || 540;
  const height = svg.clientHeight || 190;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren();
  if (!series.points.length) return;
  const named = series.names.length > 1; // output names in a right margin
  const plot = {
    left: MARGIN.left,
    top: MARGIN.top,
    right: width - MARGIN.right - (named ? NAMES_WIDTH : 0),
    bottom: height - MARGIN.bottom,
  };
  const times = series.points.map((p) => Date.parse(p.date));
  const { start, end } = timeDomain(times);
  const values = series.points
    .flatMap((p) => series.names.map((name) => p.values[name]))
    .filter((v) => typeof v === "number" && Number.isFinite(v));
  const { lo, hi, step } = valueDomain(values);
  const x = (date) =>
    plot.left + ((Date.parse(date) - start) / (end - start)) * (plot.right - plot.left);
  const y = (v) => plot.top + ((hi - v) / (hi - lo)) * (plot.bottom - plot.top);

  for (let v = lo; v <= hi + step / 2; v += step) {
    add(svg, "line", { class: "grid", x1: plot.left, x2: plot.right, y1: y(v), y2: y(v) });
    add(svg, "text", { x: plot.left - 4, y: y(v) + 3, "text-anchor": "end" }, label(v, step));
  }
  add(svg, "line", { class: "axis", x1: plot.left, x2: plot.left, y1: plot.top, y2: plot.bottom });
  add(svg, "line", {
    class: "axis", x1: plot.left, x2: plot.right, y1: plot.bottom, y2: plot.bottom,
  });
  const every = Math.ceil(series.points.length / MAX_DATE_LABELS);
  series.points.forEach((point, index) => {
    if (index % every) return;
    add(svg, "line", {
      class: "axis", x1: x(point.date), x2: x(point.date), y1: plot.bottom, y2: plot.bottom + 3,
    });
    const at = { x: x(point.date), y: plot.bottom + 14, "text-anchor": "middle" };
    add(svg, "text", at, point.date);
  });
  if (chosen && series.points.some((p) => p.date === chosen)) {
    add(svg, "line", {
      class: "chosen", x1: x(chosen), x2: x(chosen), y1: plot.top, y2: plot.bottom,
      "data-date": chosen,
    });
  }

  for (const point of series.points.filter((p) => p.cloudy)) {
    add(svg, "line", {
      x1: x(point.date), x2: x(point.date), y1: plot.top + 8, y2: plot.bottom,
      stroke: CLOUD_COLOUR, "stroke-dasharray": "3 3",
    });
    const glyph = cloudGlyph(svg, x(point.date), plot.top - 6);
    glyph.setAttribute("class", "cloudy");
    glyph.dataset.date = point.date;
    add(glyph, "title", {}, `${point.date}: cloudy at this point (SCL cloud mask)`);
    glyph.addEventListener("click", () => onPick(point.date));
  }

  series.names.forEach((name, k) => {
    const colour = LINE_COLOURS[k % LINE_COLOURS.length];
    const clear = series.points.filter((p) => !p.cloudy && Number.isFinite(p.values[name]));
    if (clear.length > 1) {
      add(svg, "polyline", {
        class: "line", fill: "none", stroke: colour, "stroke-width": 2, "stroke-linejoin": "round",
        points: clear.map((p) => `${x(p.date)},${y(p.values[name])}`).join(" "),
      });
    }
    for (const point of series.points.filter((p) => Number.isFinite(p.values[name]))) {
      const dot = add(svg, "circle", {
        class: "value", cx: x(point.date), cy: y(point.values[name]), r: 4,
        fill: point.cloudy ? "#fff" : colour, stroke: colour, "stroke-width": 2,
      });
      Object.assign(dot.dataset, {
        date: point.date, output: name, value: String(point.values[name]),
      });
      add(dot, "title", {}, `${point.date} ${name}: ${point.values[name].toFixed(4)}`);
      dot.addEventListener("click", () => onPick(point.date));
    }
    if (named) {
      const at = { x: plot.right + 8, y: plot.top + 10 + 12 * k, style: `fill:${colour}` };
      add(svg, "text", at, name);
    }
  });
}
