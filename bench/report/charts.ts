import type { BenchResults } from '#bench/lib/results.ts';
import { type RatioBar, ratioBarsSvg } from './svg.ts';

const shorten = (text: string, max: number): string =>
  text.length > max ? `${text.slice(0, max - 1)}…` : text;

/** The bars of the results chart: every row whose target is on its ratio, labelled by benchmark and case. */
export const ratioBars = (results: BenchResults): RatioBar[] =>
  results.benchmarks.flatMap((benchmark) =>
    benchmark.rows
      .filter((row) => row.ratio && row.target?.appliesTo === 'ratio')
      .map((row) => ({
        label: `${benchmark.id}. ${shorten(row.case, 34)} (${row.ratio!.label})`,
        value: row.ratio!.value,
        target: row.target!.limit,
        met: row.target!.met,
      })),
  );

export const resultsChartSvg = (results: BenchResults): string =>
  ratioBarsSvg('Ratios to their baselines, log scale (dashed: target)', ratioBars(results));
