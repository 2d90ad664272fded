/**
 * Two small SVG charts written by hand (a line chart over time and a bar chart of ratios against targets): the
 * project draws only these two, so a charting library would be more code to carry than this.
 */

const escapeXml = (text: string): string =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/** A round axis maximum at or above `value`: 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 7.5 times a power of ten. */
export const niceMax = (value: number): number => {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  // Each divides into the axis' 5 ticks at round values, and none leaves more than a third of the axis empty.
  for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
};

const label = (value: number): string =>
  Math.abs(value) >= 1000 ? `${Math.round(value / 100) / 10}k` : String(Math.round(value * 100) / 100);

export interface LineSeries {
  name: string;
  unit: string;
  /** [x, y] pairs, x ascending. */
  points: Array<[number, number]>;
  axis: 'left' | 'right';
  color: string;
}

export interface LineChart {
  title: string;
  xLabel: string;
  series: LineSeries[];
  /** The x axis' end; by default a round value at or above the last point. */
  xMax?: number;
  width?: number;
  height?: number;
}

/** A line chart with up to one series scale on each side; a series with no points is listed as unavailable. */
export const lineChartSvg = (chart: LineChart): string => {
  const width = chart.width ?? 800;
  const height = chart.height ?? 360;
  const m = { top: 40, right: 70, bottom: 60, left: 70 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const xs = chart.series.flatMap((s) => s.points.map(([x]) => x));
  const xMax = chart.xMax ?? niceMax(Math.max(1, ...xs));
  const yMax = (axis: 'left' | 'right') =>
    niceMax(
      Math.max(0, ...chart.series.filter((s) => s.axis === axis).flatMap((s) => s.points.map(([, y]) => y))),
    );
  const scales = { left: yMax('left'), right: yMax('right') };
  const px = (x: number) => m.left + (x / xMax) * plotW;
  const py = (y: number, axis: 'left' | 'right') => m.top + plotH - (y / scales[axis]) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(chart.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(chart.title)}</text>`,
    `<line x1="${m.left}" y1="${m.top + plotH}" x2="${m.left + plotW}" y2="${m.top + plotH}" stroke="#333"/>`,
    `<text x="${m.left + plotW / 2}" y="${height - 25}" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`,
  ];
  for (let i = 0; i <= 5; i += 1) {
    const x = (xMax * i) / 5;
    parts.push(`<text x="${px(x)}" y="${m.top + plotH + 16}" text-anchor="middle">${label(x)}</text>`);
    const yFraction = i / 5;
    const y = m.top + plotH - yFraction * plotH;
    parts.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + plotW}" y2="${y}" stroke="#eee"/>`);
  }
  for (const axis of ['left', 'right'] as const) {
    const series = chart.series.filter((s) => s.axis === axis);
    if (series.length === 0) continue;
    const x = axis === 'left' ? m.left : m.left + plotW;
    parts.push(
      `<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + plotH}" stroke="${series[0]!.color}"/>`,
    );
    for (let i = 0; i <= 5; i += 1) {
      const value = (scales[axis] * i) / 5;
      const anchor = axis === 'left' ? 'end' : 'start';
      const tx = axis === 'left' ? x - 6 : x + 6;
      parts.push(
        `<text x="${tx}" y="${py(value, axis) + 4}" text-anchor="${anchor}" fill="${series[0]!.color}">${label(value)}</text>`,
      );
    }
  }
  chart.series.forEach((s, i) => {
    const legendY = height - 8;
    const legendX = m.left + i * 260;
    const name = s.points.length > 0 ? `${s.name} (${s.unit})` : `${s.name}: not available`;
    parts.push(
      `<line x1="${legendX}" y1="${legendY - 4}" x2="${legendX + 20}" y2="${legendY - 4}" stroke="${s.color}" stroke-width="2"/>`,
      `<text x="${legendX + 26}" y="${legendY}">${escapeXml(name)}</text>`,
    );
    if (s.points.length === 0) return;
    const points = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y, s.axis).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${points}"/>`);
    // A line needs two points: a series of one is drawn as a dot.
    if (s.points.length === 1) {
      const [x, y] = s.points[0]!;
      parts.push(
        `<circle cx="${px(x).toFixed(1)}" cy="${py(y, s.axis).toFixed(1)}" r="3" fill="${s.color}"/>`,
      );
    }
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
};

export interface RatioBar {
  label: string;
  value: number;
  /** The target ratio, drawn as a tick; absent when the row has none. */
  target?: number;
  met?: boolean;
}

/** The powers of ten that span `values` and 1, on a log scale: [lowest exponent, highest exponent]. */
export const logDomain = (values: readonly number[]): [number, number] => {
  const positive = values.filter((v) => v > 0);
  const lo = Math.floor(Math.log10(Math.min(1, ...positive)));
  const hi = Math.ceil(Math.log10(Math.max(1, ...positive)));
  return [lo, hi === lo ? lo + 1 : hi];
};

/**
 * Horizontal bars on a log scale, one per ratio, each drawn from 1× (as good as its baseline) to its value, with
 * the target as a dashed tick: green when met, red when not, grey without a target.
 */
export const ratioBarsSvg = (title: string, bars: RatioBar[]): string => {
  const width = 800;
  const rowH = 28;
  const m = { top: 40, right: 70, bottom: 30, left: 360 };
  const height = m.top + m.bottom + rowH * Math.max(1, bars.length);
  const [lo, hi] = logDomain(bars.flatMap((b) => [b.value, b.target ?? 1]));
  const plotW = width - m.left - m.right;
  const px = (v: number) => m.left + ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * plotW;
  const bottom = m.top + rowH * Math.max(1, bars.length);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
  ];
  for (let power = lo; power <= hi; power += 1) {
    const x = px(10 ** power).toFixed(1);
    parts.push(
      `<line x1="${x}" y1="${m.top}" x2="${x}" y2="${bottom}" stroke="${power === 0 ? '#333' : '#ddd'}"/>`,
      `<text x="${x}" y="${bottom + 16}" text-anchor="middle">${label(10 ** power)}×</text>`,
    );
  }
  bars.forEach((bar, i) => {
    const y = m.top + i * rowH;
    const color = bar.met === undefined ? '#888' : bar.met ? '#2e7d32' : '#c62828';
    const [from, to] = [px(Math.min(1, bar.value)), px(Math.max(1, bar.value))];
    parts.push(
      `<text x="${m.left - 8}" y="${y + 17}" text-anchor="end">${escapeXml(bar.label)}</text>`,
      `<rect x="${from.toFixed(1)}" y="${y + 5}" width="${Math.max(1, to - from).toFixed(1)}" height="${rowH - 10}" fill="${color}"/>`,
      `<text x="${(to + 4).toFixed(1)}" y="${y + 17}">${label(bar.value)}</text>`,
    );
    if (bar.target !== undefined) {
      const x = px(bar.target).toFixed(1);
      parts.push(
        `<line x1="${x}" y1="${y + 2}" x2="${x}" y2="${y + rowH - 2}" stroke="#000" stroke-width="2" stroke-dasharray="3,2"/>`,
      );
    }
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
};
