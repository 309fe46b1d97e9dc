/** A line chart as a self-contained SVG string: axes with nice ticks, grid, title, legend. No dependencies. */

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  color: string;
  dash?: string;
  markers?: boolean;
}

/** A dashed reference line across the plot (a target), shown in the legend. */
export interface RefLine {
  axis: 'x' | 'y';
  value: number;
  name: string;
  color: string;
  dash: string;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Log for values spanning orders of magnitude; values ≤ 0 are drawn on the bottom edge. */
  yScale: 'linear' | 'log';
  series: readonly Series[];
  refLines?: readonly RefLine[];
}

const WIDTH = 640; // of the plot area and its axes, before the legend
const HEIGHT = 400;
const MARGIN = { left: 76, right: 20, top: 44, bottom: 52 };
const FONT = 'font-family="Helvetica, Arial, sans-serif"';
const CHAR_PX = 7; // an estimate of a 12 px character's width, to size the legend
const LEGEND_MAX_CHARS = 48;

// eslint-disable-next-line no-control-regex -- these are the characters XML 1.0 does not allow at all
const NOT_IN_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g;
const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

/** Text for an element or attribute. */
export function escapeXml(text: string): string {
  return text.replace(NOT_IN_XML, '').replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/** The smallest of 1, 2, 5 × 10^n that is at least `raw`. */
export function niceStep(raw: number): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const decade = 10 ** Math.floor(Math.log10(raw));
  const f = raw / decade;
  // The tolerance keeps 0.3/0.1 (2.9999…) from rounding up to the next step.
  return (f <= 1 + 1e-9 ? 1 : f <= 2 + 1e-9 ? 2 : f <= 5 + 1e-9 ? 5 : 10) * decade;
}

interface Axis {
  min: number;
  max: number;
  ticks: number[];
  log: boolean;
}

/** From zero to a nice bound in four to eight steps. */
export function linearAxis(maxValue: number): Axis {
  const top = maxValue > 0 && Number.isFinite(maxValue) ? maxValue : 1;
  const step = niceStep(top / 8);
  const n = Math.ceil(top / step - 1e-9);
  const ticks = Array.from({ length: n + 1 }, (_, i) => Number((i * step).toPrecision(12)));
  return { min: 0, max: n * step, ticks, log: false };
}

/** Ticks at 1, 2, 5 × 10^n (only 1 × 10^n over more than three decades) enclosing the values. */
export function logAxis(minPositive: number, maxValue: number): Axis {
  const lo = minPositive > 0 && Number.isFinite(minPositive) ? minPositive : 1;
  const hi = Math.max(maxValue, lo * 10);
  const decades = Math.log10(hi) - Math.log10(lo);
  const mantissas = decades > 3 ? [1] : [1, 2, 5];
  const candidates: number[] = [];
  for (let e = Math.floor(Math.log10(lo)) - 1; e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of mantissas) candidates.push(Number((m * 10 ** e).toPrecision(12)));
  }
  const min = Math.max(...candidates.filter((c) => c <= lo * (1 + 1e-9)));
  const max = Math.min(...candidates.filter((c) => c >= hi * (1 - 1e-9)));
  return { min, max, ticks: candidates.filter((c) => c >= min && c <= max), log: true };
}

export function formatTick(value: number): string {
  return Number(value.toPrecision(12)).toLocaleString('en-US', { maximumFractionDigits: 6 });
}

function scaler(axis: Axis, from: number, to: number): (v: number) => number {
  const f = axis.log ? (v: number) => Math.log10(Math.max(v, axis.min)) : (v: number) => v;
  const a = f(axis.min);
  const b = f(axis.max);
  return (v) => from + ((f(v) - a) / (b - a || 1)) * (to - from);
}

const r1 = (v: number): string => (Math.round(v * 10) / 10).toString();

function truncate(name: string): string {
  return name.length > LEGEND_MAX_CHARS ? `${name.slice(0, LEGEND_MAX_CHARS - 1)}…` : name;
}

export function lineChart(spec: ChartSpec): string {
  const refs = spec.refLines ?? [];
  const xs = spec.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = spec.series.flatMap((s) => s.points.map((p) => p[1]));
  for (const r of refs) (r.axis === 'x' ? xs : ys).push(r.value);
  const finite = (v: number[]): number[] => v.filter(Number.isFinite);
  const maxOf = (v: number[]): number => finite(v).reduce((m, x) => Math.max(m, x), 0);
  const minPositive = finite(ys).reduce((m, y) => (y > 0 && y < m ? y : m), Infinity);
  const xAxis = linearAxis(maxOf(xs));
  const yAxis = spec.yScale === 'log' ? logAxis(minPositive, maxOf(ys)) : linearAxis(maxOf(ys));

  const legend = [
    ...spec.series.map((s) => ({ name: s.name, color: s.color, dash: s.dash })),
    ...refs.map((r) => ({ name: r.name, color: r.color, dash: r.dash })),
  ];
  const legendWidth = 52 + CHAR_PX * Math.max(0, ...legend.map((l) => truncate(l.name).length));
  const width = WIDTH + legendWidth;
  const [left, right] = [MARGIN.left, WIDTH - MARGIN.right];
  const [top, bottom] = [MARGIN.top, HEIGHT - MARGIN.bottom];
  const x = scaler(xAxis, left, right);
  const y = scaler(yAxis, bottom, top);

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${HEIGHT}" viewBox="0 0 ${width} ${HEIGHT}" ${FONT} font-size="12">`,
    `<title>${escapeXml(spec.title)}</title>`,
    `<rect width="${width}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${left}" y="24" font-size="16" font-weight="bold" fill="#222">${escapeXml(spec.title)}</text>`,
  ];
  for (const t of yAxis.ticks) {
    out.push(
      `<line x1="${left}" x2="${right}" y1="${r1(y(t))}" y2="${r1(y(t))}" stroke="#e4e4e4"/>`,
      `<text x="${left - 8}" y="${r1(y(t) + 4)}" text-anchor="end" fill="#444">${formatTick(t)}</text>`,
    );
  }
  for (const t of xAxis.ticks) {
    out.push(
      `<line x1="${r1(x(t))}" x2="${r1(x(t))}" y1="${bottom}" y2="${bottom + 5}" stroke="#444"/>`,
      `<text x="${r1(x(t))}" y="${bottom + 19}" text-anchor="middle" fill="#444">${formatTick(t)}</text>`,
    );
  }
  out.push(
    `<path d="M${left},${top} V${bottom} H${right}" fill="none" stroke="#444"/>`,
    `<text x="${(left + right) / 2}" y="${HEIGHT - 12}" text-anchor="middle" font-size="13" fill="#222">${escapeXml(spec.xLabel)}</text>`,
    `<text transform="translate(18 ${(top + bottom) / 2}) rotate(-90)" text-anchor="middle" font-size="13" fill="#222">${escapeXml(spec.yLabel)}</text>`,
  );
  if (spec.series.every((s) => s.points.length === 0)) {
    out.push(
      `<text x="${(left + right) / 2}" y="${(top + bottom) / 2}" text-anchor="middle" fill="#888">no data</text>`,
    );
  }
  for (const r of refs) {
    const [x1, x2, y1, y2] =
      r.axis === 'y' ? [left, right, y(r.value), y(r.value)] : [x(r.value), x(r.value), top, bottom];
    out.push(
      `<line x1="${r1(x1)}" x2="${r1(x2)}" y1="${r1(y1)}" y2="${r1(y2)}" stroke="${r.color}" stroke-width="1.5" stroke-dasharray="${r.dash}"/>`,
    );
  }
  for (const s of spec.series) {
    const pts = s.points.filter(([px, py]) => Number.isFinite(px) && Number.isFinite(py));
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
    out.push(
      `<polyline fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round"${dash} points="${pts
        .map(([px, py]) => `${r1(x(px))},${r1(y(py))}`)
        .join(' ')}"/>`,
    );
    // A line of one point draws nothing: show it as a marker.
    if (s.markers || pts.length === 1) {
      for (const [px, py] of pts) {
        out.push(`<circle cx="${r1(x(px))}" cy="${r1(y(py))}" r="3" fill="${s.color}"/>`);
      }
    }
  }
  legend.forEach((l, i) => {
    const ly = top + 8 + i * 20;
    const lx = WIDTH + 8;
    const dash = l.dash ? ` stroke-dasharray="${l.dash}"` : '';
    out.push(
      `<line x1="${lx}" x2="${lx + 22}" y1="${ly}" y2="${ly}" stroke="${l.color}" stroke-width="2.5"${dash}/>`,
      `<text x="${lx + 28}" y="${ly + 4}" fill="#222">${escapeXml(truncate(l.name))}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n').concat('\n');
}
