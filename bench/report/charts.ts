import type { BenchResults, ResultRow } from '#bench/lib/results.ts';
import { type RatioBar, ratioBarsSvg } from './svg.ts';

/** Characters a bar's label may take before the chart's left margin cuts it off. */
const LABEL_CHARS = 52;

const shorten = (text: string, max: number): string =>
  text.length > max ? `${text.slice(0, Math.max(1, max - 1))}…` : text;

/** `<id>. <case> (<what>)`, the case shortened so that the whole label fits. */
const labelOf = (id: number, row: ResultRow, what: string): string => {
  const prefix = `${id}. `;
  const suffix = ` (${what})`;
  return `${prefix}${shorten(row.case, LABEL_CHARS - prefix.length - suffix.length)}${suffix}`;
};

/**
 * The bars of the results chart, one per row with a target: a ratio target as the ratio against its limit, a
 * target on the measured value (a bundle's KiB, an init's ms) as the value divided by its limit, against 1.
 */
export const ratioBars = (results: BenchResults): RatioBar[] =>
  results.benchmarks.flatMap((benchmark) =>
    benchmark.rows.flatMap((row): RatioBar[] => {
      const target = row.target;
      if (!target) return [];
      if (target.appliesTo === 'ratio') {
        if (!row.ratio) return [];
        return [
          {
            label: labelOf(benchmark.id, row, row.ratio.label),
            value: row.ratio.value,
            target: target.limit,
            met: target.met,
          },
        ];
      }
      return [
        {
          label: labelOf(benchmark.id, row, `${row.measured.label.split(',')[0]} ÷ limit`),
          value: row.measured.value / target.limit,
          target: 1,
          met: target.met,
        },
      ];
    }),
  );

export const resultsChartSvg = (results: BenchResults): string =>
  ratioBarsSvg(
    'Every target: ratios to their baselines, measured values ÷ their limits (log scale; dashed: target)',
    ratioBars(results),
  );
